"""Vault login: a static token (dev), AppRole, or a Kubernetes service account.

Each method is a small object whose :meth:`login` runs in a worker thread (it calls
hvac and reads a file) and leaves the new token on the hvac client. Credentials used
to log in (the AppRole secret id, the service account JWT) are read from their file at
each login and dropped right after, so they are in memory only for the login call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import hvac

from mcpmesh.secrets.errors import SecretUnavailable
from mcpmesh.secrets.settings import VaultSettings


class TokenInfo:
    """What Vault said about the token just obtained or renewed."""

    __slots__ = ("renewable", "ttl")

    def __init__(self, ttl: float, renewable: bool) -> None:
        #: Seconds the token lives from now; 0 = never expires (a root token).
        self.ttl = ttl
        self.renewable = renewable


class VaultAuth(Protocol):
    #: Can log in again when the token expired or was revoked.
    can_relogin: bool
    #: The token came from a login (so this process may revoke it on shutdown).
    owns_token: bool

    def login(self, client: hvac.Client) -> TokenInfo: ...


def _info(auth: dict) -> TokenInfo:
    return TokenInfo(float(auth.get("lease_duration") or 0), bool(auth.get("renewable")))


def _read_credential_file(path: str, what: str, setting: str) -> str:
    if not path:
        raise SecretUnavailable(f"Vault {what} login needs {setting} (a file path); it is unset.")
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise SecretUnavailable(
            f"Vault {what} login cannot read {setting}={path} ({exc.strerror}); "
            "check that the file exists and the service may read it."
        ) from None
    if not value:
        raise SecretUnavailable(f"Vault {what} login: {setting}={path} is empty.")
    return value


class TokenAuth:
    """A token given in ``MCPMESH_VAULT_TOKEN`` (dev): nothing to log in with again."""

    can_relogin = False
    owns_token = False

    def __init__(self, token: str) -> None:
        if not token:
            raise SecretUnavailable(
                "MCPMESH_VAULT_AUTH=token needs MCPMESH_VAULT_TOKEN; set it, or use "
                "MCPMESH_VAULT_AUTH=approle / kubernetes."
            )
        self._token = token

    def login(self, client: hvac.Client) -> TokenInfo:
        client.token = self._token
        data = client.auth.token.lookup_self()["data"]
        return TokenInfo(float(data.get("ttl") or 0), bool(data.get("renewable")))


class AppRoleAuth:
    """AppRole: a public role id and a secret id read from a file at each login."""

    can_relogin = True
    owns_token = True

    def __init__(self, settings: VaultSettings) -> None:
        self._role_id = settings.role_id
        self._secret_id_file = settings.secret_id_file
        self._mount = settings.approle_mount

    def login(self, client: hvac.Client) -> TokenInfo:
        secret_id = _read_credential_file(
            self._secret_id_file, "AppRole", "MCPMESH_VAULT_SECRET_ID_FILE"
        )
        response = client.auth.approle.login(
            role_id=self._role_id, secret_id=secret_id, mount_point=self._mount
        )
        return _info(response["auth"])


class KubernetesAuth:
    """Kubernetes: the pod's service account token, checked by Vault via TokenReview."""

    can_relogin = True
    owns_token = True

    def __init__(self, settings: VaultSettings) -> None:
        self._role = settings.k8s_role
        self._token_file = settings.k8s_token_file
        self._mount = settings.k8s_mount

    def login(self, client: hvac.Client) -> TokenInfo:
        jwt = _read_credential_file(self._token_file, "Kubernetes", "MCPMESH_VAULT_K8S_TOKEN_FILE")
        response = client.auth.kubernetes.login(role=self._role, jwt=jwt, mount_point=self._mount)
        return _info(response["auth"])


def auth_from_settings(settings: VaultSettings) -> VaultAuth:
    if settings.auth == "approle":
        return AppRoleAuth(settings)
    if settings.auth == "kubernetes":
        return KubernetesAuth(settings)
    return TokenAuth(settings.token)
