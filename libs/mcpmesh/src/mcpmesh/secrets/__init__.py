"""Credentials on demand: no service holds a standing secret.

A service names its provider once (``Service(..., secrets=provider)``; the default is
:func:`secrets_from_env`) and asks for a credential when it needs it (``await ctx.secrets.get("token",
principal=ctx.principal)``); the provider fetches it from Vault, keeps it in memory
for less than its lease, and hands the value to the redaction guard so it never shows
up in a log line or a tool result. Vault layout (shared by every service):

* KV v2 mount ``mcpmesh``: ``services/<service>/<name>`` (field ``value``), and
  ``services/<service>/principals/<principal>/<name>`` looked up first for a principal.
* Database secrets engine mount ``database``: roles ``postgres-readonly`` and
  ``postgres-readwrite`` on the connection ``mcpmesh-postgres``.

Without ``MCPMESH_VAULT_ADDR`` a service gets a :class:`DevSecretProvider` with no
secrets, whose errors say how to start Vault and set the secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcpmesh.config import load_settings
from mcpmesh.guard.redaction import install_log_redaction
from mcpmesh.secrets.dev import DevSecretProvider
from mcpmesh.secrets.errors import SecretUnavailable
from mcpmesh.secrets.provider import (
    CheckpointSigner,
    DatabaseCredentials,
    PrincipalRef,
    SecretProvider,
)
from mcpmesh.secrets.settings import VaultSettings

if TYPE_CHECKING:
    from mcpmesh.secrets.vault import VaultSecretProvider

install_log_redaction()

__all__ = [
    "CheckpointSigner",
    "DatabaseCredentials",
    "DevSecretProvider",
    "PrincipalRef",
    "SecretProvider",
    "SecretUnavailable",
    "VaultSecretProvider",
    "VaultSettings",
    "secrets_from_env",
]


def __getattr__(name: str) -> Any:
    # hvac (and requests under it) costs ~0.3 s and ~10 MB at import: only a service
    # that really talks to Vault pays for it.
    if name == "VaultSecretProvider":
        from mcpmesh.secrets.vault import VaultSecretProvider

        return VaultSecretProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def secrets_from_env(service: str, env: Mapping[str, str] | None = None) -> SecretProvider:
    """The provider for ``service``: Vault when ``MCPMESH_VAULT_ADDR`` is set, else a
    :class:`DevSecretProvider` without secrets."""
    settings = load_settings(VaultSettings, prefix="MCPMESH_VAULT_", env=env or os.environ)
    if not settings.addr:
        return DevSecretProvider({}, service=service)
    from mcpmesh.secrets.vault import VaultSecretProvider

    return VaultSecretProvider(service, settings)
