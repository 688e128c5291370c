"""Vault settings: ``MCPMESH_VAULT_…`` environment variables."""

from __future__ import annotations

from typing import Literal

import msgspec


class VaultSettings(msgspec.Struct, kw_only=True, frozen=True):
    """How a service reaches Vault (prefix ``MCPMESH_VAULT_``).

    ``{service}`` in ``ROLE_ID``, ``SECRET_ID_FILE`` and ``K8S_ROLE`` is replaced by the
    service name, so one environment can serve every service of a mesh.
    """

    #: Vault (or OpenBao) address, e.g. ``http://127.0.0.1:8200``; unset = no Vault.
    addr: str = ""
    #: ``token`` (dev), ``approle`` or ``kubernetes``.
    auth: Literal["token", "approle", "kubernetes"] = "token"
    #: Token for ``token`` auth (dev only; a real deployment logs in with a role).
    token: str = ""
    #: AppRole role id (not secret); default ``mcpmesh-{service}``.
    role_id: str = "mcpmesh-{service}"
    #: File holding the AppRole secret id (read at each login, never kept).
    secret_id_file: str = ""
    #: Kubernetes auth role; default ``mcpmesh-{service}``.
    k8s_role: str = "mcpmesh-{service}"
    #: The service account token file Kubernetes mounts in the pod.
    k8s_token_file: str = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    #: Mount path of the Kubernetes auth method.
    k8s_mount: str = "kubernetes"
    #: Mount path of the AppRole auth method.
    approle_mount: str = "approle"
    #: Mount of the KV v2 engine holding ``services/<service>/<name>``.
    kv_mount: str = "mcpmesh"
    #: Mount of the database secrets engine.
    db_mount: str = "database"
    #: Vault namespace (Vault Enterprise / OpenBao namespaces); empty = none.
    namespace: str = ""
    #: CA bundle to verify Vault's TLS certificate; empty = system CAs.
    ca_cert: str = ""
    #: Seconds a static secret is kept in memory before it is read again.
    cache_ttl: float = 300.0
    #: Fraction of a lease or cache lifetime after which it is refreshed or renewed.
    refresh_fraction: float = 0.66
    #: Lease asked for when renewing dynamic credentials, seconds (0 = role default).
    renew_increment: int = 0
    #: Vault requests in flight at once (hvac runs in worker threads).
    max_concurrency: int = 4
    #: Seconds before a Vault request gives up.
    timeout: float = 5.0
    #: Look up ``services/<service>/principals/<principal>/<name>`` first.
    principal_secrets: bool = True
    #: When a principal has no own secret, fall back to the service's (false = fail).
    principal_fallback: bool = True
    #: How a principal's own secrets are read: ``service`` (with the service's own Vault
    #: identity) or ``jwt`` (with a Vault token from the caller's access token, via the
    #: JWT auth method ``user_jwt_mount``: the service's identity cannot read them).
    user_auth: Literal["service", "jwt"] = "service"
    #: Mount of the JWT auth method that trusts the mesh's authorization server.
    user_jwt_mount: str = "mcpmesh-users"
    #: Its role for this service (``{service}`` is replaced by the service name).
    user_jwt_role: str = "{service}"

    def for_service(self, service: str) -> VaultSettings:
        """The settings with ``{service}`` placeholders filled in."""
        return msgspec.structs.replace(
            self,
            role_id=self.role_id.replace("{service}", service),
            secret_id_file=self.secret_id_file.replace("{service}", service),
            k8s_role=self.k8s_role.replace("{service}", service),
            user_jwt_role=self.user_jwt_role.replace("{service}", service),
        )

    def __repr__(self) -> str:  # the token never reaches a repr
        shown = "***" if self.token else "''"
        return f"VaultSettings(addr={self.addr!r}, auth={self.auth!r}, token={shown}, …)"


class CallerCredentialSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Per service (prefix ``MCPMESH_<SVC>_``, e.g. ``MCPMESH_GITHUB_``)."""

    #: A caller without an own upstream credential may use the service's shared one.
    #: Unset: allowed only when authentication is off (with it on, each caller acts with
    #: their own credential, ``mcpmesh secrets set <svc> <name> --for PRINCIPAL``).
    shared_credentials: bool | None = None


def service_prefix(service: str) -> str:
    """``MCPMESH_<SVC>_`` for a service name (``my-svc`` → ``MCPMESH_MY_SVC_``)."""
    return f"MCPMESH_{service.upper().replace('-', '_').replace('.', '_')}_"
