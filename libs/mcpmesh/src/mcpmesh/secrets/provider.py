"""The provider interface services code against."""

from __future__ import annotations

import re
from typing import Literal, Protocol, runtime_checkable

import msgspec

from mcpmesh.auth.principal import Principal

#: Who a secret is looked up for: a Principal (its ``key`` is used), a key, or nobody.
PrincipalRef = Principal | str | None


def principal_key(principal: PrincipalRef) -> str | None:
    """The string a principal's own secrets are filed under (``None``: the service's)."""
    return principal.key if isinstance(principal, Principal) else principal


#: Whose credential a secret is: the calling principal's own, or the service's shared one.
CredentialKind = Literal["user", "shared"]


class Secret(str):
    """A secret's value (a ``str``, so every caller keeps working) that also says whose
    credential it is: ``kind`` is ``"user"`` (the principal's own, under
    ``principals/<key>/``) or ``"shared"`` (the service's). The audit records the kind,
    never the value."""

    __slots__ = ("kind",)
    kind: CredentialKind

    def __new__(cls, value: str, kind: CredentialKind) -> Secret:
        secret = super().__new__(cls, value)
        secret.kind = kind
        return secret

    def __repr__(self) -> str:  # the value never reaches a repr
        return f"Secret(kind={self.kind!r}, value='***')"


def kind_of(value: str) -> CredentialKind:
    """A value from a provider that does not say (a plain ``str``) counts as shared."""
    return value.kind if isinstance(value, Secret) else "shared"


#: Secret names and principals become Vault path segments: keep them to safe characters
#: so no name can climb into another service's or principal's path.
SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]{0,127}$")


class DatabaseCredentials(msgspec.Struct, frozen=True):
    """A dynamic database login: valid until ``expires_at`` (UNIX time) or revocation.

    Open new connections with the latest credentials from
    ``database_credentials(role)``; close connections before ``expires_at`` (Vault drops
    the role then and ends its sessions).
    """

    username: str
    password: str
    lease_id: str
    expires_at: float

    def __repr__(self) -> str:  # the password never reaches a repr, log line or traceback
        return f"DatabaseCredentials(username={self.username!r}, password='***', lease_id={self.lease_id!r}, expires_at={self.expires_at!r})"

    __str__ = __repr__


@runtime_checkable
class SecretProvider(Protocol):
    """Where a service's credentials come from (``ctx.secrets``)."""

    async def get(self, name: str, *, principal: PrincipalRef = None) -> str:
        """The static secret ``name`` of this service (the principal's own one first)."""
        ...

    async def database_credentials(self, role: str) -> DatabaseCredentials:
        """Dynamic database credentials for ``role``, renewed while the provider is open."""
        ...

    async def forget(self, name: str, *, principal: PrincipalRef = None) -> None:
        """Drop the cached value of ``name``: call it when the backend rejected the secret,
        so a token rotated in Vault is used on the next call instead of after the cache TTL."""
        ...

    async def close(self) -> None:
        """Stop renewals and revoke every lease this provider obtained."""
        ...


@runtime_checkable
class CheckpointSigner(Protocol):
    """A provider that can sign audit checkpoints with a key it never hands out (Vault
    Transit); the app gives its ``sign_checkpoint`` to the audit publisher."""

    async def sign_checkpoint(self, data: bytes) -> str:
        """A signature of ``data`` by this service's audit key."""
        ...
