"""A provider with fixed secrets, for tests of services that do not exercise Vault."""

from __future__ import annotations

import time
from collections.abc import Mapping

from mcpmesh.guard.redaction import remember
from mcpmesh.secrets.errors import SecretUnavailable, how_to_set
from mcpmesh.secrets.provider import (
    SAFE_SEGMENT,
    DatabaseCredentials,
    PrincipalRef,
    Secret,
    principal_key,
)


class DevSecretProvider:
    """Secrets given in memory: ``DevSecretProvider({"token": "..."})``.

    A principal's own secret is ``"principals/<principal>/<name>"`` in the mapping,
    looked up before ``"<name>"`` — the same layout as in Vault. Every value is
    registered for redaction, as the Vault provider does.
    """

    def __init__(
        self,
        secrets: Mapping[str, str] | None = None,
        *,
        service: str = "this-service",
        database: Mapping[str, DatabaseCredentials] | None = None,
    ) -> None:
        self.service = service
        self._secrets = dict(secrets or {})
        self._database = dict(database or {})
        self.closed = False
        for value in self._secrets.values():
            remember(value)
        for credentials in self._database.values():
            remember(credentials.password)

    async def get(self, name: str, *, principal: PrincipalRef = None) -> Secret:
        who = principal_key(principal)
        if who is not None and SAFE_SEGMENT.match(who):
            own = self._secrets.get(f"principals/{who}/{name}")
            if own is not None:
                return Secret(own, "user")
        value = self._secrets.get(name)
        if value is None:
            raise SecretUnavailable(
                f"The {self.service} service has no secret {name!r}: no Vault is configured "
                f"(MCPMESH_VAULT_ADDR is unset). Start the mesh with `make run`, then "
                + how_to_set(self.service, name)
                + ".",
                service=self.service,
                name=name,
            )
        return Secret(value, "shared")

    async def database_credentials(self, role: str) -> DatabaseCredentials:
        credentials = self._database.get(role)
        if credentials is None or credentials.expires_at <= time.time():
            raise SecretUnavailable(
                f"No database credentials for role {role!r}: no Vault is configured "
                "(MCPMESH_VAULT_ADDR is unset). Start the mesh with `make run` so Vault "
                "issues them, or give the service a DSN for development.",
                service=self.service,
                name=role,
            )
        return credentials

    async def forget(self, name: str, *, principal: PrincipalRef = None) -> None:
        """Nothing is cached: the dev provider's values are what it was given."""

    async def close(self) -> None:
        self.closed = True
