"""``mcpmesh secrets list`` and ``mcpmesh secrets delete``: names only, never values."""

from __future__ import annotations

import argparse
import json
import sys


def _list(args: argparse.Namespace) -> int:
    from mcpmesh import registry
    from mcpmesh.secrets.admin import SecretWriteError, list_secrets  # hvac: only when used

    try:
        found = list_secrets(registry.available(), service=args.service, principal=args.principal)
    except SecretWriteError as exc:
        print(f"mcpmesh secrets list: {exc}", file=sys.stderr)
        return 2
    if args.json:
        rows = [
            {"service": svc, "principal": who, "name": name}
            for svc, per in found.items()
            for who, names in per.items()
            for name in names
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not found:
        print("no secrets stored", file=sys.stderr)
        return 0
    for svc, per in found.items():
        for who, names in per.items():
            owner = "(every caller)" if who is None else f"for {who}"
            print(f"{svc:<12} {owner:<24} {', '.join(names)}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from mcpmesh import registry
    from mcpmesh.secrets.admin import SecretWriteError, delete_secret

    try:
        removed = delete_secret(
            args.service, args.name, principal=args.principal, services=registry.available()
        )
    except SecretWriteError as exc:
        print(f"mcpmesh secrets delete: {exc}", file=sys.stderr)
        return 2
    where = f"{args.service}/{args.name}" + (f" for {args.principal}" if args.principal else "")
    if not removed:
        print(f"mcpmesh secrets delete: no secret {where} is stored", file=sys.stderr)
        return 1
    print(f"deleted {where} (every version)", file=sys.stderr)
    return 0


def add_secret_actions(actions: argparse._SubParsersAction) -> None:
    """``list`` and ``delete`` under ``mcpmesh secrets``."""
    listing = actions.add_parser(
        "list",
        help="the names of the stored secrets, per service and principal",
        description="The names (never the values) of the secrets stored in Vault, per "
        "service and principal. Vault as for `secrets set`.",
    )
    listing.add_argument("service", nargs="?", help="only this service")
    listing.add_argument("--for", dest="principal", help="only this principal's secrets")
    listing.add_argument("--json", action="store_true", help="JSON rows instead of a table")
    listing.set_defaults(run=_list)
    delete = actions.add_parser(
        "delete",
        help="remove a stored secret",
        description="Remove SERVICE's secret NAME (every version) from Vault.",
    )
    delete.add_argument("service", help="service name, e.g. github or slack")
    delete.add_argument("name", help="secret name, e.g. token or bot_token")
    delete.add_argument("--for", dest="principal", help="the principal's own secret")
    delete.set_defaults(run=_delete)
