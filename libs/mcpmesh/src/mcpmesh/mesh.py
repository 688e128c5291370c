"""``mcpmesh up``: the whole mesh on one machine, each service in its own process.

Every service runs as ``mcpmesh serve NAME`` in a child process on its default port
(or a free one when that is taken). Every service but a ``public`` one (the conformance
fixture) requires an OAuth access token from the mesh's authorization server
(``tools/authserver``), started as a backend with each service's canonical URL as a
resource and its scopes. When all answer ``/healthz``, the URLs, how a client signs in and
a client configuration are printed; Ctrl-C, SIGTERM or SIGHUP (the terminal closed) stops
them all, and every backend, gracefully — also while they are still starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from mcpmesh import registry
from mcpmesh.app import service_scopes
from mcpmesh.commands.hints import mcpmesh_command
from mcpmesh.commands.logs import ServiceLogs
from mcpmesh.commands.status import state_path, write_state
from mcpmesh.config import ServerSettings
from mcpmesh.embedded import mesh_workdir
from mcpmesh.embedded.authserver import authserver_starter, service_auth_env
from mcpmesh.embedded.process import BackendError, free_port, port_free
from mcpmesh.embedded.stack import STARTERS, Stack
from mcpmesh.embedded.vault import vault_starter, vault_starter_for_callers
from mcpmesh.guard.sealing import write_key_file

READY_TIMEOUT = 20.0
#: Each of these stops the mesh and its backends (SIGHUP: the terminal was closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def choose_port(name: str, host: str) -> int:
    wanted = registry.default_port(name)
    if wanted is not None and port_free(host, wanted):
        return wanted
    return free_port(host)


@dataclass(frozen=True)
class PlannedService:
    """A service ``mcpmesh up`` is about to start."""

    name: str
    port: int
    #: The URL clients use, and so its canonical URL (the RFC 8707 resource).
    url: str
    #: Serves without a token (``Service(public=True)``: the conformance fixture).
    public: bool
    #: What its tokens may carry: every scope its tools need, ``<name>:read`` and
    #: ``<name>:write`` (so enabling writes needs no new registration at the AS).
    scopes: list[str]


def plan_services(names: list[str], host: str) -> dict[str, PlannedService]:
    """Ports, URLs and scopes of ``names``, read from each service's own tools."""
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    planned = {}
    for name in names:
        try:
            service = registry.load_factory(name)(ServerSettings())
        except Exception as exc:  # the child would fail the same way: say it now
            raise BackendError(f"service {name}: {type(exc).__name__}: {exc}") from None
        port = choose_port(name, host)
        scopes = {*service_scopes(service), f"{name}:read", f"{name}:write"}
        planned[name] = PlannedService(
            name, port, f"http://{shown}:{port}/mcp", service.public, sorted(scopes)
        )
    return planned


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
    if env.get("MCPMESH_AUTHSERVER_ISSUER"):
        lines.append(
            f"  {'authserver':<12} {env['MCPMESH_AUTHSERVER_ISSUER']}  (OAuth 2.1 authorization "
            "server, keys and clients in MCPMESH_WORKDIR)"
        )
    return lines


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


def sign_in_lines(planned: dict[str, PlannedService], command: str) -> list[str]:
    """How a client and a script get a token (nothing when every service is open)."""
    protected = [p.name for p in planned.values() if not p.public]
    if not protected:
        return []
    open_ = [p.name for p in planned.values() if p.public]
    example = "github" if "github" in protected else protected[0]
    url = planned[example].url
    return [
        "Signing in: "
        + (f"every service but {', '.join(open_)}" if open_ else "every service")
        + " needs an OAuth access token.",
        "An MCP client finds the authorization server in the service's metadata",
        "(/.well-known/oauth-protected-resource/mcp), registers itself and opens a browser:",
        "sign in as dev (any password) and allow access. Each token is for one service.",
        "",
        f"Scripts: `{command} token {example}` prints a dev token for {example}:read",
        f'(client_credentials, subject mcpmesh-dev; --scope "{example}:read {example}:write"',
        "for writes too), e.g.",
        f'  curl -H "Authorization: Bearer $({command} token {example})" \\',
        "       -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\",
        '       -d \'{"jsonrpc":"2.0","id":1,"method":"initialize","params":'
        '{"protocolVersion":"2025-11-25","capabilities":{},'
        '"clientInfo":{"name":"curl","version":"1"}}}\' \\',
        f"       {url}",
    ]


def client_config(urls: dict[str, str]) -> str:
    servers = {f"mcpmesh-{name}": {"type": "http", "url": url} for name, url in urls.items()}
    return json.dumps({"mcpServers": servers}, indent=2)


async def run_mesh(
    services: list[str] | None = None, host: str = "127.0.0.1", *, logs: bool = False
) -> int:
    """Start the embedded backends, then the services; stop everything on a signal."""
    names = sorted(services or registry.available())
    unknown = [n for n in names if n not in registry.available()]
    if unknown:
        print(f"mcpmesh up: unknown service(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    stack = Stack()
    try:
        planned = await asyncio.to_thread(plan_services, names, host)
        if not await _unless_stopped(stack.start(mesh_workdir(), _starters(planned)), stop):
            print("mcpmesh up: stopped by a signal while starting", file=sys.stderr)
            return 1
        env = dict(stack.env)
        if not os.environ.get("MCPMESH_STATE_KEY_FILE"):
            # One requestState key ring for every service and replica of this mesh.
            env["MCPMESH_STATE_KEY_FILE"] = str(write_key_file(mesh_workdir() / "state-keys.json"))
        return await _run_services(planned, host, env, stop, ServiceLogs(mesh_workdir(), logs))
    except BackendError as exc:
        print(f"mcpmesh up: {exc}", file=sys.stderr)
        return 1
    finally:
        await stack.stop()
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def _starters(planned: dict[str, PlannedService]) -> list[Any]:
    """The backends; when a service needs tokens, the authorization server first, and
    Vault set up so that callers' own credentials are read with their own tokens."""
    protected = {name: p for name, p in planned.items() if not p.public}
    if not protected:
        return list(STARTERS)
    resources = {name: p.url for name, p in protected.items()}
    scopes = {name: p.scopes for name, p in protected.items()}
    callers_vault = vault_starter_for_callers(resources)
    backends = [callers_vault if s is vault_starter else s for s in STARTERS]
    return [authserver_starter(resources, scopes), *backends]


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


def service_env(planned: PlannedService, env: dict[str, str]) -> dict[str, str]:
    """The backends' settings, and the service's own auth settings unless it is open."""
    issuer = env.get("MCPMESH_AUTHSERVER_ISSUER")
    own = service_auth_env(issuer, planned.url) if issuer and not planned.public else {}
    return {**env, **own}


async def _run_services(
    planned: dict[str, PlannedService],
    host: str,
    env: dict[str, str],
    stop: asyncio.Event,
    logs: ServiceLogs,
) -> int:
    processes: dict[str, asyncio.subprocess.Process] = {}
    urls = {name: p.url for name, p in planned.items()}
    try:
        for name, service in planned.items():
            processes[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "mcpmesh",
                "serve",
                name,
                "--host",
                host,
                "--port",
                str(service.port),
                env={**os.environ, **service_env(service, env)},
                stderr=asyncio.subprocess.PIPE,
            )
            logs.follow(name, processes[name].stderr)
        healthy = _all_healthy(processes, urls)
        if not await _unless_stopped(healthy, stop):
            return 1
        _print_up(planned, env, logs)
        write_state(urls, backend_addresses(env))
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


def _print_up(planned: dict[str, PlannedService], env: dict[str, str], logs: ServiceLogs) -> None:
    command = mcpmesh_command()
    print("mcpmesh is up:\n")
    for name, service in planned.items():
        note = "  (open: no token needed)" if service.public else ""
        print(f"  {name:<12} {service.url}{note}")
    backends = backend_lines(env)
    if backends:
        print("\nBackends (loopback, data in MCPMESH_WORKDIR):\n")
        print("\n".join(backends))
    sign_in = sign_in_lines(planned, command) if env.get("MCPMESH_AUTHSERVER_ISSUER") else []
    if sign_in:
        print("\n" + "\n".join(sign_in))
    print("\nClient configuration (MCP servers over HTTP):\n")
    print(client_config({name: p.url for name, p in planned.items()}))
    owner = " --for dev" if sign_in else ""
    print(
        f"\nStore your GitHub token: {command} secrets set github token{owner} < token.txt"
        f"\nAt a glance:   {command} status   ({command} tools lists every tool)"
        f"\nAudit trail:   {command} audit tail   ({command} audit verify checks the chain)"
        f"\nLogs:          {logs.folder}/<service>.log"
    )
    print("\nCtrl-C stops the mesh. Tool calls as they happen:\n", flush=True)


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
