"""``mcpmesh tools``: every tool of every installed service, read or write, and the scopes
it needs — from the service factories, so no mesh has to run."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mcpmesh.config import ServerSettings
from mcpmesh.server.service import Service


def describe(service: Service[Any]) -> list[dict[str, Any]]:
    rows = []
    for spec in service.tools.values():
        annotations = spec.tool.annotations
        read_only = bool(annotations is not None and annotations.read_only_hint)
        rows.append(
            {
                "service": service.name,
                "tool": spec.name,
                "access": "read" if read_only else "write",
                "scopes": list(spec.scopes),
            }
        )
    return rows


def mesh_tools(names: list[str] | None = None) -> list[dict[str, Any]]:
    """The tools as each service would register them now (its write switch from the
    environment: write tools appear when ``MCPMESH_<SVC>_WRITE=true``)."""
    from mcpmesh import registry

    rows: list[dict[str, Any]] = []
    for name in sorted(names or registry.available()):
        rows += describe(registry.load_factory(name)(ServerSettings()))
    return rows


def run(args: argparse.Namespace) -> int:
    try:
        rows = mesh_tools(args.service or None)
    except LookupError as exc:
        print(f"mcpmesh tools: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["tool"]) for r in rows), default=4)
    for index, service in enumerate(dict.fromkeys(r["service"] for r in rows)):
        own = [r for r in rows if r["service"] == service]
        writes = sum(1 for r in own if r["access"] == "write")
        print(("\n" if index else "") + f"{service} ({len(own)} tools, {writes} write)")
        for row in own:
            print(f"  {row['tool']:<{width}}  {row['access']:<5}  {' '.join(row['scopes'])}")
    return 0


def add_tools(commands: argparse._SubParsersAction) -> None:
    tools = commands.add_parser(
        "tools",
        help="list every tool of the installed services",
        description="Every tool of every installed service (or the named ones): read or "
        "write, and the OAuth scopes a caller needs. Read from the installed services, no "
        "running mesh needed; write tools are listed when the service's write switch "
        "(MCPMESH_<SVC>_WRITE) is on.",
    )
    tools.add_argument("service", nargs="*", help="only these services")
    tools.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    tools.set_defaults(run=run)
