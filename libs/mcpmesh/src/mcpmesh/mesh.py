"""``mcpmesh up``: the whole mesh on one machine, each service in its own process.

Every service runs as ``mcpmesh serve NAME`` in a child process on its default port
(or a free one when that is taken). When all answer ``/healthz``, the URLs and a
client configuration are printed; Ctrl-C, SIGTERM or SIGHUP (the terminal closed) stops
them all, and every backend, gracefully — also while they are still starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from mcpmesh import registry
from mcpmesh.commands.hints import mcpmesh_command
from mcpmesh.commands.logs import ServiceLogs
from mcpmesh.commands.status import state_path, write_state
from mcpmesh.embedded import mesh_workdir
from mcpmesh.embedded.process import BackendError, free_port
from mcpmesh.embedded.stack import Stack
from mcpmesh.guard.sealing import write_key_file

READY_TIMEOUT = 20.0
#: Each of these stops the mesh and its backends (SIGHUP: the terminal was closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(name: str, host: str) -> int:
    wanted = registry.default_port(name)
    if wanted is not None and _port_free(host, wanted):
        return wanted
    return free_port(host)


async def wait_healthy(url: str, process: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"exited with status {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"not healthy within {timeout:g} s")


def backend_lines(env: dict[str, str]) -> list[str]:
    """Where the embedded backends listen (addresses only: no credential is printed)."""
    lines = []
    if env.get("MCPMESH_NATS_URL"):
        lines.append(f"  {'nats':<12} {env['MCPMESH_NATS_URL']}  (JetStream: sessions, audit)")
    if env.get("MCPMESH_VAULT_ADDR"):
        lines.append(
            f"  {'vault':<12} {env['MCPMESH_VAULT_ADDR']}  (OpenBao, data and unseal key in MCPMESH_WORKDIR)"
        )
    dsn = env.get("MCPMESH_PG_DSN")
    if dsn:
        parts = urlsplit(dsn)
        lines.append(
            f"  {'postgresql':<12} {parts.hostname}:{parts.port}{parts.path}  (demo database)"
        )
    return lines


def client_config(urls: dict[str, str]) -> str:
    servers = {f"mcpmesh-{name}": {"type": "http", "url": url} for name, url in urls.items()}
    return json.dumps({"mcpServers": servers}, indent=2)


def backend_addresses(env: dict[str, str]) -> dict[str, str]:
    """What ``mcpmesh status`` probes (addresses only, like :func:`backend_lines`)."""
    found = {}
    if env.get("MCPMESH_NATS_URL"):
        found["nats"] = env["MCPMESH_NATS_URL"]
    if env.get("MCPMESH_VAULT_ADDR"):
        found["vault"] = env["MCPMESH_VAULT_ADDR"]
    if env.get("MCPMESH_PG_DSN"):
        parts = urlsplit(env["MCPMESH_PG_DSN"])
        found["postgresql"] = f"{parts.hostname}:{parts.port}{parts.path}"
    return found


async def run_mesh(
    services: list[str] | None = None, host: str = "127.0.0.1", *, logs: bool = False
) -> int:
    """Start the embedded backends, then the services; stop everything on a signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    stack = Stack()
    try:
        if not await _unless_stopped(stack.start(mesh_workdir()), stop):
            print("mcpmesh up: stopped by a signal while starting", file=sys.stderr)
            return 1
        env = dict(stack.env)
        if not os.environ.get("MCPMESH_STATE_KEY_FILE"):
            # One requestState key ring for every service and replica of this mesh.
            env["MCPMESH_STATE_KEY_FILE"] = str(write_key_file(mesh_workdir() / "state-keys.json"))
        return await _run_services(services, host, env, stop, ServiceLogs(mesh_workdir(), logs))
    except BackendError as exc:
        print(f"mcpmesh up: {exc}", file=sys.stderr)
        return 1
    finally:
        await stack.stop()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run ``work`` unless ``stop`` is set first (then cancel it); True when it finished."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


async def _run_services(
    services: list[str] | None,
    host: str,
    env: dict[str, str],
    stop: asyncio.Event,
    logs: ServiceLogs,
) -> int:
    names = sorted(services or registry.available())
    unknown = [n for n in names if n not in registry.available()]
    if unknown:
        print(f"mcpmesh up: unknown service(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    processes: dict[str, asyncio.subprocess.Process] = {}
    urls: dict[str, str] = {}
    try:
        for name in names:
            port = choose_port(name, host)
            processes[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "mcpmesh",
                "serve",
                name,
                "--host",
                host,
                "--port",
                str(port),
                env={**os.environ, **env},
                stderr=asyncio.subprocess.PIPE,
            )
            logs.follow(name, processes[name].stderr)
            shown = "localhost" if host in ("127.0.0.1", "::1") else host
            urls[name] = f"http://{shown}:{port}/mcp"
        healthy = _all_healthy(processes, urls)
        if not await _unless_stopped(healthy, stop):
            return 1
        print("mcpmesh is up:\n")
        for name, url in urls.items():
            print(f"  {name:<12} {url}")
        backends = backend_lines(env)
        if backends:
            print("\nBackends (loopback, data in MCPMESH_WORKDIR):\n")
            print("\n".join(backends))
        print("\nClient configuration (MCP servers over HTTP):\n")
        print(client_config(urls))
        write_state(urls, backend_addresses(env))
        command = mcpmesh_command()
        print(
            f"\nStore a token: {command} secrets set github token < token.txt"
            f"\nAt a glance:   {command} status   ({command} tools lists every tool)"
            f"\nAudit trail:   {command} audit tail   ({command} audit verify checks the chain)"
            f"\nLogs:          {logs.folder}/<service>.log"
        )
        print("\nCtrl-C stops the mesh. Tool calls as they happen:\n", flush=True)
        logs.quiet = False
        waiters = [asyncio.ensure_future(p.wait()) for p in processes.values()]
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait([stopper, *waiters], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        return 0 if stopper in done else 1
    finally:
        logs.quiet = True  # the services' shutdown lines stay in their log files
        await _stop_all(processes)
        await logs.close()
        state_path().unlink(missing_ok=True)


async def _all_healthy(
    processes: dict[str, asyncio.subprocess.Process], urls: dict[str, str]
) -> None:
    for name, process in processes.items():
        try:
            await wait_healthy(urls[name].removesuffix("/mcp") + "/healthz", process, READY_TIMEOUT)
        except RuntimeError as exc:
            raise BackendError(
                f"service {name} {exc} (its log: {mesh_workdir() / 'logs' / f'{name}.log'})"
            ) from None


async def _stop_all(processes: dict[str, asyncio.subprocess.Process]) -> None:
    for process in processes.values():
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes.values():
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
