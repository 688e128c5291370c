"""``ctx.secrets`` for one request: the caller's own credential, and a shared one only
where the operator allows it.

With authentication on, a service acting for a principal must use that principal's own
upstream credential (``services/<svc>/principals/<key>/<name>``): falling back to the
service's shared credential would let any authenticated caller act with the service's
rights. :class:`CallerSecrets` wraps the service's provider for one request, refuses the
fallback unless ``MCPMESH_<SVC>_SHARED_CREDENTIALS`` allows it, and tells the request
which kind was used, for the audit event (never the value).
"""

from __future__ import annotations

from collections.abc import Callable

from mcpmesh.auth.principal import Principal
from mcpmesh.secrets.errors import SecretUnavailable, how_to_set
from mcpmesh.secrets.provider import (
    CredentialKind,
    DatabaseCredentials,
    PrincipalRef,
    SecretProvider,
    kind_of,
    principal_key,
)
from mcpmesh.secrets.settings import service_prefix


class CallerSecrets:
    """A :class:`SecretProvider` view for one request (the app builds one per request;
    closing it closes nothing: the provider belongs to the service)."""

    __slots__ = ("_caller", "_provider", "_service", "_shared_allowed", "_used")

    def __init__(
        self,
        provider: SecretProvider,
        service: str,
        *,
        shared_allowed: bool,
        used: Callable[[CredentialKind], None],
        caller: Principal | None = None,
    ) -> None:
        self._caller = caller
        self._provider = provider
        self._service = service
        self._shared_allowed = shared_allowed
        self._used = used

    async def get(self, name: str, *, principal: PrincipalRef = None) -> str:
        """The principal's own secret ``name``; the service's shared one when asked for
        no principal, or as a fallback only when the operator allows shared credentials.
        The caller's key (a ``str``) stands for the caller: the provider gets the
        :class:`~mcpmesh.auth.Principal` (and so its token, for ``user_auth=jwt``)."""
        caller = self._caller
        if isinstance(principal, str) and caller is not None and principal == caller.key:
            principal = caller
        value = await self._provider.get(name, principal=principal)
        kind = kind_of(value)
        who = principal_key(principal)
        if who is not None and kind == "shared" and not self._shared_allowed:
            variable = service_prefix(self._service) + "SHARED_CREDENTIALS"
            raise SecretUnavailable(
                f"{who} has no own {name!r} for the {self._service} service, and this "
                f"service uses no shared credential for callers ({variable} is off); "
                + how_to_set(self._service, name, who)
                + ".",
                service=self._service,
                name=name,
            )
        self._used(kind)
        return value

    async def database_credentials(self, role: str) -> DatabaseCredentials:
        credentials = await self._provider.database_credentials(role)
        self._used("shared")
        return credentials

    async def forget(self, name: str, *, principal: PrincipalRef = None) -> None:
        await self._provider.forget(name, principal=principal)

    async def close(self) -> None:
        """Nothing: the service's provider is closed by the app at shutdown."""
