"""Running a backend binary as a child process: start, wait until ready, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path


class BackendError(RuntimeError):
    """A backend binary is missing, exited early, or never became ready."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_free(host: str, port: int) -> bool:
    """Whether a server can listen on ``port`` of ``host`` right now. Servers (aiohttp,
    Node) bind with ``SO_REUSEADDR``, and so does the probe: a port whose last connections
    are still in TIME_WAIT (a mesh that just stopped) counts as free, so a restarted mesh
    gets the same ports, URLs and issuer again; one another program listens on does not."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


async def port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22),
    which tells a process from a later one that reuses its PID; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _start_time(pid) is not None or sys.platform != "linux"


def process_alive(pid_file: Path) -> bool:
    """Whether the process a :class:`ManagedProcess` PID file names still runs."""
    try:
        pid_text, started = pid_file.read_text().split()
        return _start_time(int(pid_text)) == started
    except (OSError, ValueError):
        return False


def pid_runs(pid: int, program: str) -> bool:
    """Whether ``pid`` is alive and runs ``program`` (by the name of its executable)."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return Path(argv0.decode(errors="replace")).name.startswith(program)


def stop_leftover(name: str, pid: int, stop_signal: signal.Signals, timeout: float = 15.0) -> None:
    """Stop a backend an earlier run left behind (it crashed or was killed before it could
    stop its children), so this run can take the data directory over."""
    print(
        f"mcpmesh: stopping the {name} (pid {pid}) an earlier run left running when it "
        "did not stop cleanly",
        file=sys.stderr,
    )
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, stop_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)


class ManagedProcess:
    """One child process with its output in a log file, stopped with SIGTERM (then SIGKILL).

    Its PID (with its start time) is kept in ``<name>.pid`` next to the log while it runs:
    when a run dies without stopping it (SIGKILL, a crash), the next start finds that file
    and stops the leftover before starting again, instead of failing on its locks.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        """``stop_signal`` is what asks the program to stop at once but cleanly
        (PostgreSQL: SIGINT, its "fast" shutdown; SIGTERM waits for clients to leave)."""
        self.name = name
        self.stop_signal = stop_signal
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.pid_file = log_path.with_name(f"{name}.pid")

    def _stop_leftover(self) -> None:
        try:
            pid_text, started = self.pid_file.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return
        if _start_time(pid) == started:
            stop_leftover(self.name, pid, self.stop_signal)
        self.pid_file.unlink(missing_ok=True)

    def _write_pid_file(self, pid: int) -> None:
        self.pid_file.write_text(f"{pid} {_start_time(pid) or 0}\n")

    async def start(self, ready: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self._stop_leftover)
        with self.log_path.open("ab") as log:
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *self.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env={**os.environ, **(self.env or {})},
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise BackendError(f"{self.name}: binary not found: {self.argv[0]}") from None
        self._write_pid_file(self.process.pid)
        try:
            await self._wait_ready(ready, timeout)
        except BaseException:  # not ready, or the start itself was cancelled (a signal)
            await self.stop()
            raise

    async def _wait_ready(self, ready: Callable[[], Awaitable[bool]], timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise BackendError(
                    f"{self.name} exited with status {self.process.returncode}; log: {self.log_path}\n"
                    + self.tail()
                )
            if await ready():
                return
            await asyncio.sleep(0.05)
        raise BackendError(
            f"{self.name} not ready within {timeout:g} s; log: {self.log_path}\n" + self.tail()
        )

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, timeout: float = 10.0) -> None:
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(self.stop_signal)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        self.pid_file.unlink(missing_ok=True)
