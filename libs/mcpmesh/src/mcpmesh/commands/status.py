"""``mcpmesh status``: the running mesh at a glance.

Each service of the ``mcpmesh up`` in this work directory (``services.json`` it writes):
URL, ``/healthz``, ``/readyz`` and why not; the backends; the secret names stored per
service and principal (the operator credential lists names, it cannot read values); the
audit stream's head.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from mcpmesh.config import mesh_workdir

#: What `mcpmesh up` writes: {"services": {name: url}, "backends": {name: address}}.
STATE_FILE = "services.json"
PROBE_TIMEOUT = 3.0


def state_path(workdir: Path | None = None) -> Path:
    return (workdir or mesh_workdir()) / STATE_FILE


def write_state(services: dict[str, str], backends: dict[str, str]) -> Path:
    """Called by ``mcpmesh up`` once the services answer (removed when it stops)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"services": services, "backends": backends}, indent=2))
    return path


def read_state() -> dict[str, Any] | None:
    try:
        return json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int | None, Any]:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT)) as response:
            body = await response.text()
            try:
                return response.status, json.loads(body)
            except ValueError:
                return response.status, body
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def service_status(http: aiohttp.ClientSession, name: str, url: str) -> dict[str, Any]:
    base = url.removesuffix("/mcp")
    health, _ = await _get(http, base + "/healthz")
    ready, body = await _get(http, base + "/readyz")
    problems = body.get("problems", {}) if isinstance(body, dict) else {}
    return {
        "service": name,
        "url": url,
        "healthy": health == 200,
        "ready": ready == 200,
        "problems": problems if health == 200 else {"process": "does not answer"},
    }


async def backend_status(backends: dict[str, str]) -> dict[str, str]:
    from mcpmesh.embedded.nats import nats_answers

    found: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:
        for name, address in backends.items():
            if name == "nats":
                up = await nats_answers(address, PROBE_TIMEOUT)
                found[name] = f"{address}  {'up' if up else 'DOWN'}"
            elif name == "vault":
                status, _ = await _get(http, address.rstrip("/") + "/v1/sys/health")
                found[name] = f"{address}  {'up' if status == 200 else f'DOWN ({status})'}"
            else:
                found[name] = address
    return found


def secret_names() -> dict[str, dict[str | None, list[str]]] | str:
    from mcpmesh import registry
    from mcpmesh.secrets.admin import SecretWriteError, list_secrets

    try:
        return list_secrets(registry.available())
    except SecretWriteError as exc:
        return str(exc)


async def audit_head(nats_url: str | None) -> str:
    """How far the audit stream goes (every replica keeps its own chain in it)."""
    if not nats_url:
        return "no bus"
    import msgspec

    from mcpmesh.bus.audit import audit_stream_name
    from mcpmesh.bus.audit_commands import connect_operator
    from mcpmesh.bus.settings import BUS_PREFIX, BusSettings
    from mcpmesh.config import load_settings
    from mcpmesh.embedded.nats import running_mesh_nats

    bus = load_settings(BusSettings, BUS_PREFIX)
    if not bus.nkey_seed_file:
        _, seed_file = running_mesh_nats()
        bus = msgspec.structs.replace(bus, nkey_seed_file=seed_file or "")
    try:
        nc = await connect_operator(msgspec.structs.replace(bus, url=nats_url))
    except Exception as exc:
        return f"NATS unreachable ({type(exc).__name__})"
    try:
        info = await nc.jetstream(timeout=PROBE_TIMEOUT).stream_info(audit_stream_name(bus.prefix))
        return f"{info.state.messages} messages, last sequence {info.state.last_seq}"
    except Exception as exc:
        return f"unreadable ({type(exc).__name__})"
    finally:
        await nc.close()


async def gather_status(state: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        services = await asyncio.gather(
            *(service_status(http, n, u) for n, u in state.get("services", {}).items())
        )
    backends = state.get("backends", {})
    return {
        "services": list(services),
        "backends": await backend_status(backends),
        "secrets": await asyncio.to_thread(secret_names),
        "audit": await audit_head(backends.get("nats")),
    }


def render(status: dict[str, Any]) -> str:
    lines = ["Services:"]
    for row in status["services"]:
        state = "ready" if row["ready"] else ("NOT READY" if row["healthy"] else "DOWN")
        lines.append(f"  {row['service']:<12} {state:<10} {row['url']}")
        for check, problem in row["problems"].items():
            lines.append(f"  {'':<12} {check}: {problem}")
    lines.append("\nBackends:")
    lines += [f"  {name:<12} {text}" for name, text in status["backends"].items()]
    lines.append("\nSecrets stored (names only):")
    secrets = status["secrets"]
    if isinstance(secrets, str):
        lines.append(f"  {secrets}")
    elif not secrets:
        lines.append("  none")
    for svc, per in secrets.items() if isinstance(secrets, dict) else ():
        for who, names in per.items():
            owner = "(every caller)" if who is None else f"for {who}"
            lines.append(f"  {svc:<12} {owner:<24} {', '.join(names)}")
    lines.append(f"\nAudit trail: {status['audit']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    state = read_state()
    if state is None:
        from mcpmesh.commands.hints import mcpmesh_command

        print(
            f"mcpmesh status: no mesh is running from {mesh_workdir()} (MCPMESH_WORKDIR): "
            f"start it with `make run` or `{mcpmesh_command()} up`",
            file=sys.stderr,
        )
        return 2
    status = asyncio.run(gather_status(state))
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0 if all(row["ready"] for row in status["services"]) else 1


def add_status(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status",
        help="the running mesh: services, readiness, backends, secrets, audit",
        description="Each service of the running `mcpmesh up` (URL, health, readiness and "
        "why not), its backends, the secret names stored per service and principal, and "
        "the audit stream's head. Exit 1 when a service is not ready.",
    )
    status.add_argument("--json", action="store_true", help="JSON instead of text")
    status.set_defaults(run=run)
