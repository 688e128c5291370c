"""Running a backend binary as a child process: start, wait until ready, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
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


async def port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ManagedProcess:
    """One child process with its output in a log file, stopped with SIGTERM (then SIGKILL)."""

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

    async def start(self, ready: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
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
        await self.stop()
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
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(self.stop_signal)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
