"""Writing a service's static secret into Vault (``mcpmesh secrets set``).

The value comes from standard input — a pipe, or a hidden prompt on a terminal — never
from argv, where ``ps`` and shell history would keep it.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Collection
from typing import TextIO

import hvac
import hvac.exceptions
import requests

from mcpmesh.config import mesh_workdir
from mcpmesh.secrets.bootstrap import KV_MOUNT
from mcpmesh.secrets.provider import SAFE_SEGMENT

#: Largest secret accepted (a GitHub App private key is ~1.7 kB).
MAX_VALUE_BYTES = 64 * 1024


class SecretWriteError(Exception):
    """The secret could not be stored; the message says why and what to do."""


def read_value(stream: TextIO) -> str:
    """The secret from ``stream``: a hidden prompt on a terminal, else all of it."""
    if stream.isatty():
        value = getpass.getpass("value (input hidden): ", stream=None)
    else:
        value = stream.read(MAX_VALUE_BYTES + 1)
        if len(value) > MAX_VALUE_BYTES:
            raise SecretWriteError(f"the value is longer than {MAX_VALUE_BYTES} bytes")
        # One trailing newline is how `echo` and editors end a file, not part of a token.
        value = value.removesuffix("\n").removesuffix("\r")
    if not value.strip():
        raise SecretWriteError("no value on standard input; nothing was stored")
    return value


def vault_target() -> tuple[str, str]:
    """``(addr, token)``: from the environment, else the running dev mesh's operator file."""
    addr, token = os.environ.get("MCPMESH_VAULT_ADDR"), os.environ.get("MCPMESH_VAULT_TOKEN")
    if addr and token:
        return addr, token
    operator = mesh_workdir() / "vault" / "operator.json"
    try:
        data = json.loads(operator.read_text())
        return data["addr"], data["token"]
    except (OSError, ValueError, KeyError):
        raise SecretWriteError(
            "no Vault to write to: start the mesh with `make run` (or `mcpmesh up`) in this "
            "directory, or set MCPMESH_VAULT_ADDR and MCPMESH_VAULT_TOKEN"
        ) from None


def set_secret(
    service: str,
    name: str,
    value: str,
    *,
    principal: str | None = None,
    services: Collection[str] | None = None,
) -> str:
    """Store ``value`` at ``mcpmesh/services/<service>/[principals/<p>/]<name>``; returns
    the Vault address written to. ``services``: the installed ones; another name is
    refused (a typo would store a secret no service ever reads)."""
    for what, segment in (("service", service), ("name", name), ("principal", principal)):
        if segment is not None and not SAFE_SEGMENT.match(segment):
            raise SecretWriteError(f"invalid {what} {segment!r}: use letters, digits, _ . @ + -")
    if services is not None and service not in services:
        known = ", ".join(sorted(services)) or "none installed"
        raise SecretWriteError(
            f"unknown service {service!r} (installed: {known}); nothing was stored"
        )
    path = f"services/{service}/{name}"
    if principal is not None:
        path = f"services/{service}/principals/{principal}/{name}"
    addr, token = vault_target()
    client = hvac.Client(url=addr, token=token, timeout=10)
    try:
        client.secrets.kv.v2.create_or_update_secret(
            path=path, secret={"value": value}, mount_point=KV_MOUNT
        )
    except hvac.exceptions.Forbidden:
        raise SecretWriteError(
            f"Vault at {addr} refused to write {KV_MOUNT}/{path}: the token lacks the "
            "mcpmesh-operator policy (or expired; restart `make run`)"
        ) from None
    except (requests.exceptions.RequestException, hvac.exceptions.VaultError) as exc:
        raise SecretWriteError(
            f"Vault at {addr} could not store the secret ({type(exc).__name__}); is it running?"
        ) from None
    return addr
