"""The ``mcpmesh`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mcpmesh.commands.secrets import add_secret_actions
from mcpmesh.commands.status import add_status
from mcpmesh.commands.tools import add_tools
from mcpmesh.config import ServerSettings, SettingsError, load_settings

#: Seconds `mcpmesh audit` waits for the NATS server to answer before it gives up.
NATS_PROBE_TIMEOUT = 3.0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcpmesh")
    except PackageNotFoundError:
        return "unknown"


def _serve(args: argparse.Namespace) -> int:
    from mcpmesh import registry
    from mcpmesh.app import serve
    from mcpmesh.obs.logging import configure_logging

    try:
        settings = load_settings(ServerSettings, host=args.host, port=args.port)
        factory = registry.load_factory(args.service)
        configure_logging(
            args.service, settings.log_level, settings.log_json, settings.log_repeat_seconds
        )
        service = factory(settings)
    except (SettingsError, LookupError) as exc:
        print(f"mcpmesh serve: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(service, settings))
    except SettingsError as exc:  # a misconfiguration found while wiring the app
        print(f"mcpmesh serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _up(args: argparse.Namespace) -> int:
    from mcpmesh.mesh import run_mesh

    return asyncio.run(run_mesh(services=args.service or None, host=args.host, logs=args.logs))


def _secrets_set(args: argparse.Namespace) -> int:
    from mcpmesh import registry
    from mcpmesh.secrets.admin import SecretWriteError, read_value, set_secret

    try:
        value = read_value(sys.stdin)
        where = set_secret(
            args.service,
            args.name,
            value,
            principal=args.principal,
            services=registry.available(),
        )
    except SecretWriteError as exc:
        print(f"mcpmesh secrets set: {exc}", file=sys.stderr)
        return 2
    print(f"stored {args.service}/{args.name} in Vault ({where})", file=sys.stderr)
    return 0


def _new_service(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mcpmesh.scaffold import ScaffoldError, new_service

    try:
        new_service(args.name, root=Path(args.root) if args.root else None, port=args.port)
    except ScaffoldError as exc:
        print(f"mcpmesh new-service: {exc}", file=sys.stderr)
        return 2
    return 0


def _audit(args: argparse.Namespace) -> int:
    import msgspec

    from mcpmesh.bus import audit_commands
    from mcpmesh.bus.connect import NatsCredentialError
    from mcpmesh.bus.settings import BUS_PREFIX, BusSettings
    from mcpmesh.embedded.nats import nats_answers, running_mesh_nats

    try:
        bus = load_settings(BusSettings, BUS_PREFIX)
    except SettingsError as exc:
        print(f"mcpmesh audit: {exc}", file=sys.stderr)
        return 2
    if not bus.url:
        url, seed_file = running_mesh_nats()
        bus = msgspec.structs.replace(bus, url=url or "", nkey_seed_file=seed_file or "")
    if not bus.url:
        print(
            "mcpmesh audit: no running mesh here (MCPMESH_WORKDIR) and no MCPMESH_NATS_URL: "
            "start it with `make run` (or `mcpmesh up`), or set MCPMESH_NATS_URL to the "
            "mesh's NATS server",
            file=sys.stderr,
        )
        return 2
    if not asyncio.run(nats_answers(bus.url, NATS_PROBE_TIMEOUT)):
        print(
            f"mcpmesh audit: no NATS server answers at {bus.url} within {NATS_PROBE_TIMEOUT:g} s: "
            "is the mesh running (`make run`)? Check MCPMESH_NATS_URL",
            file=sys.stderr,
        )
        return 2
    try:
        if args.audit_command == "init":
            return asyncio.run(audit_commands.init_command(bus))
        if args.audit_command == "tail":
            return asyncio.run(audit_commands.tail_command(bus, args.count, args.stream))
        if args.audit_command == "export":
            since = audit_commands.parse_since(args.since) if args.since else None
            return asyncio.run(
                audit_commands.export_command(
                    bus, start=args.from_seq, since=since, follow=args.follow, stream=args.stream
                )
            )
        return asyncio.run(audit_commands.verify_command(bus, args.stream))
    except NatsCredentialError as exc:
        print(f"mcpmesh audit: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"mcpmesh audit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _state_key_file(args: argparse.Namespace) -> int:
    from mcpmesh.guard.sealing import write_key_file

    try:
        path = write_key_file(args.path)
    except (OSError, ValueError) as exc:
        print(f"mcpmesh state-key-file: {exc}", file=sys.stderr)
        return 2
    print(f"requestState key ring: {path}", file=sys.stderr)
    return 0


def _token(args: argparse.Namespace) -> int:
    import aiohttp

    from mcpmesh.embedded import mesh_workdir
    from mcpmesh.embedded.authserver import request_dev_token, running_mesh_auth
    from mcpmesh.embedded.process import BackendError

    mesh = running_mesh_auth(mesh_workdir())
    if mesh is None:
        print(
            "mcpmesh token: no running mesh with an authorization server here "
            "(MCPMESH_WORKDIR): start it with `make run` (or `mcpmesh up`)",
            file=sys.stderr,
        )
        return 2
    known = ", ".join(sorted(mesh.resources)) or "none"
    name = args.service or (next(iter(mesh.resources)) if len(mesh.resources) == 1 else None)
    if name is None or name not in mesh.resources:
        wanted = f"{name!r} takes no token or is not running" if name else "name a service"
        print(f"mcpmesh token: {wanted} (services that need one: {known})", file=sys.stderr)
        return 2
    scopes = [s for given in args.scope or [f"{name}:read"] for s in given.split()]
    unknown = sorted(set(scopes) - set(mesh.scopes[name]))
    if unknown:
        print(
            f"mcpmesh token: {name} has no scope {', '.join(unknown)} "
            f"(it has {', '.join(mesh.scopes[name])})",
            file=sys.stderr,
        )
        return 2
    try:
        response = asyncio.run(
            request_dev_token(
                mesh.token_endpoint, Path(mesh.dev_client_file), mesh.resources[name], scopes
            )
        )
    except (BackendError, OSError, aiohttp.ClientError) as exc:
        print(f"mcpmesh token: {exc}", file=sys.stderr)
        return 2
    print(response["access_token"])
    return 0


def _add_token(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser(
        "token",
        help="print a dev access token for a service of the running mesh",
        description="Print an access token for SERVICE from the authorization server of the "
        "running `mcpmesh up` (client_credentials with its dev client: subject mcpmesh-dev), "
        'for scripts: curl -H "Authorization: Bearer $(mcpmesh token github)" …',
    )
    token.add_argument(
        "service", nargs="?", help="the service (optional when only one needs a token)"
    )
    token.add_argument(
        "--scope",
        action="append",
        help="scope(s) to ask for, repeatable or space-separated (default SERVICE:read)",
    )
    token.set_defaults(run=_token)


def _add_audit(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser(
        "audit",
        help="read, check and export the audit stream",
        description="The audit trail on NATS JetStream (MCPMESH_NATS_URL, MCPMESH_NATS_PREFIX, "
        "MCPMESH_NATS_NKEY_SEED_FILE of the operator; default: the NATS of a running "
        "`mcpmesh up`). Signatures are checked with Vault Transit (MCPMESH_VAULT_ADDR, "
        "MCPMESH_VAULT_TOKEN of the operator).",
    )
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="create the audit stream with its limits (operator; before the services start)",
    )
    init.set_defaults(run=_audit)
    tail = actions.add_parser("tail", help="print the last audit events as JSON lines")
    tail.add_argument("-n", "--count", type=int, default=20, help="how many (default 20)")
    verify = actions.add_parser(
        "verify",
        help="check every chain and its signed checkpoints; exit 1 naming forged, altered "
        "and removed events",
    )
    export = actions.add_parser(
        "export", help="stream events and checkpoints as JSON lines (for a SIEM)"
    )
    start = export.add_mutually_exclusive_group()
    start.add_argument("--from-seq", type=int, help="start at this stream sequence")
    start.add_argument("--since", help="start at this time (ISO 8601 or Unix seconds)")
    export.add_argument(
        "--follow", action="store_true", help="keep streaming new events (until Ctrl-C)"
    )
    for action in (tail, verify, export):
        action.add_argument("--stream", help="stream name (default <PREFIX>_AUDIT)")
        action.set_defaults(run=_audit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcpmesh",
        description="mcpmesh: a mesh of MCP services over Streamable HTTP.",
    )
    parser.add_argument("--version", action="version", version=f"mcpmesh {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run one service",
        description="Run one service at http://HOST:PORT/mcp until SIGTERM. Settings come "
        "from MCPMESH_* environment variables; flags override them.",
    )
    serve.add_argument("service", help="service name (`mcpmesh tools` lists them)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, MCPMESH_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default: free port, MCPMESH_PORT)")
    serve.set_defaults(run=_serve)
    up = commands.add_parser(
        "up",
        help="run the whole mesh on loopback",
        description="Start every installed service (or the named ones) on loopback ports, "
        "print their URLs and a client configuration, and stop them all on Ctrl-C.",
    )
    up.add_argument("service", nargs="*", help="only these services")
    up.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    up.add_argument(
        "--logs",
        action="store_true",
        help="show every service log line (readable), not only tool calls and warnings; "
        "all of them are in MCPMESH_WORKDIR/logs/<service>.log either way",
    )
    up.set_defaults(run=_up)
    secrets = commands.add_parser(
        "secrets",
        help="manage the services' secrets in Vault",
        description="Store, list (names only) and delete the services' static secrets "
        "(a GitHub or Slack token) in Vault.",
    )
    secrets_commands = secrets.add_subparsers(dest="secrets_command", metavar="ACTION")
    secrets_set = secrets_commands.add_parser(
        "set",
        help="store a secret read from standard input",
        description="Store SERVICE's secret NAME in Vault (mcpmesh/services/SERVICE/NAME). "
        "The value is read from standard input (never from the command line), e.g. "
        "`mcpmesh secrets set github token < token.txt`, or typed at a hidden prompt. "
        "Vault: MCPMESH_VAULT_ADDR and MCPMESH_VAULT_TOKEN, else the dev Vault of a "
        "running `mcpmesh up` (MCPMESH_WORKDIR/vault/operator.json).",
    )
    secrets_set.add_argument("service", help="service name, e.g. github or slack")
    secrets_set.add_argument("name", help="secret name, e.g. token or bot_token")
    secrets_set.add_argument(
        "--for",
        "--principal",  # the earlier name, still accepted
        dest="principal",
        metavar="PRINCIPAL",
        help="store it as this principal's own credential (the principal's key: the "
        "token's subject, as in the audit events)",
    )
    secrets_set.set_defaults(run=_secrets_set)
    add_secret_actions(secrets_commands)
    _add_audit(commands)
    state_key = commands.add_parser(
        "state-key-file",
        help="write the requestState key ring every replica shares",
        description="Write a requestState key ring (one random AES-256 key, mode 600) at "
        "PATH unless a valid one is there: what MCPMESH_STATE_KEY_FILE names. Every replica "
        "of the mesh needs the same file (2026-07-28 multi round-trip requests).",
    )
    state_key.add_argument("path", help="where, e.g. /run/secrets/mcpmesh/state-keys.json")
    state_key.set_defaults(run=_state_key_file)
    add_status(commands)
    add_tools(commands)
    _add_token(commands)
    new = commands.add_parser(
        "new-service",
        help="create a service from the template",
        description="Render services/NAME (a package with one example tool, tests through "
        "the official MCP Python SDK client, a README) and add it to the workspace, "
        "docker-compose.yml, deploy/k8s and a Vault policy of its own. Never overwrites an "
        "existing service.",
    )
    new.add_argument("name", help="lower-case words joined by hyphens, e.g. jira or google-drive")
    new.add_argument("--port", type=int, help="its port (default: the next free from 8705)")
    new.add_argument("--root", help="the mcpmesh checkout (default: the one around the cwd)")
    new.set_defaults(run=_new_service)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
