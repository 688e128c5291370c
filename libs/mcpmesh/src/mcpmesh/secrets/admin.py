"""Writing a service's static secret into Vault (``mcpmesh secrets set``).

The value comes from standard input — a pipe, or a hidden prompt on a terminal — never
from argv, where ``ps`` and shell history would keep it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
from collections.abc import Collection, Iterator
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
    _checked(service, name, principal, services)
    path = _secret_path(service, name, principal)
    addr, client = _operator_client()
    with _vault_errors(addr, f"write {KV_MOUNT}/{path}", "store the secret"):
        client.secrets.kv.v2.create_or_update_secret(
            path=path, secret={"value": value}, mount_point=KV_MOUNT
        )
    return addr


def _checked(
    service: str, name: str | None, principal: str | None, services: Collection[str] | None
) -> None:
    """Names that can be path segments, and (``services`` given) an installed service:
    refused before anything reaches Vault, so nothing changes."""
    for what, segment in (("service", service), ("name", name), ("principal", principal)):
        if segment is not None and not SAFE_SEGMENT.match(segment):
            raise SecretWriteError(f"invalid {what} {segment!r}: use letters, digits, _ . @ + -")
    if services is not None and service not in services:
        known = ", ".join(sorted(services)) or "none installed"
        raise SecretWriteError(
            f"unknown service {service!r} (installed: {known}); nothing was changed"
        )


def _secret_path(service: str, name: str, principal: str | None) -> str:
    if principal is None:
        return f"services/{service}/{name}"
    return f"services/{service}/principals/{principal}/{name}"


@contextlib.contextmanager
def _vault_errors(addr: str, refused: str, failed: str) -> Iterator[None]:
    """Vault's refusals and failures as a :class:`SecretWriteError` that says what to do."""
    try:
        yield
    except hvac.exceptions.Forbidden:
        raise SecretWriteError(
            f"Vault at {addr} refused to {refused}: the token lacks the "
            "mcpmesh-operator policy (or expired; restart `make run`)"
        ) from None
    except (requests.exceptions.RequestException, hvac.exceptions.VaultError) as exc:
        raise SecretWriteError(
            f"Vault at {addr} could not {failed} ({type(exc).__name__}); is it running?"
        ) from None


def _operator_client() -> tuple[str, hvac.Client]:
    addr, token = vault_target()
    return addr, hvac.Client(url=addr, token=token, timeout=10)


def _names(client: hvac.Client, path: str) -> list[str]:
    """The keys under ``path`` (folders end in ``/``); none when the folder is empty."""
    try:
        listed = client.secrets.kv.v2.list_secrets(path=path, mount_point=KV_MOUNT)
    except hvac.exceptions.InvalidPath:
        return []
    return sorted(listed["data"]["keys"])


def list_secrets(
    services: Collection[str], *, service: str | None = None, principal: str | None = None
) -> dict[str, dict[str | None, list[str]]]:
    """Names (never values) stored per service and principal: ``{service: {principal or
    None: [name, …]}}``. The operator token may list but not read (operator policy)."""
    for one in [service] if service else []:
        _checked(one, None, principal, services)
    addr, client = _operator_client()
    found: dict[str, dict[str | None, list[str]]] = {}
    with _vault_errors(addr, "list secret names", "list secrets"):
        for svc in [service] if service else sorted(services):
            keys = _names(client, f"services/{svc}")
            shared = [k for k in keys if not k.endswith("/")]
            per: dict[str | None, list[str]] = {}
            if shared and principal is None:
                per[None] = shared
            if "principals/" in keys:
                for who in _names(client, f"services/{svc}/principals"):
                    who = who.rstrip("/")
                    if principal is not None and who != principal:
                        continue
                    names = [k for k in _names(client, f"services/{svc}/principals/{who}")]
                    if names:
                        per[who] = [k for k in names if not k.endswith("/")]
            if per:
                found[svc] = per
    return found


def delete_secret(
    service: str, name: str, *, principal: str | None = None, services: Collection[str]
) -> bool:
    """Remove a stored secret, every version of it; False when there was none."""
    _checked(service, name, principal, services)
    path = _secret_path(service, name, principal)
    addr, client = _operator_client()
    folder, _, leaf = path.rpartition("/")
    with _vault_errors(addr, f"delete {KV_MOUNT}/{path}", "delete the secret"):
        if leaf not in _names(client, folder):
            return False
        client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=KV_MOUNT)
    return True
