"""The authenticated caller and the HTTP-level refusals of authentication/authorization."""

from __future__ import annotations

import functools
import hashlib
import re

import msgspec

_SAFE_SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Whoever an accepted access token speaks for.

    ``issuer`` + ``subject`` identify the principal (a session is bound to both); ``key``
    is the one string every other part of the mesh uses for it: Vault paths
    (``…/principals/<key>/…``), rate-limit counters, audit events and logs.
    """

    issuer: str
    subject: str
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None
    #: The token's ``cnf.jkt`` when it is sender-constrained (DPoP, RFC 9449).
    jkt: str | None = None
    #: The access token itself, for reading the principal's own credentials with the
    #: principal's identity (Vault JWT login, ``MCPMESH_VAULT_USER_AUTH=jwt``). Never
    #: in a repr, log line or audit event.
    access_token: str | None = None

    def __repr__(self) -> str:
        token = ", access_token='***'" if self.access_token else ""
        return (
            f"Principal(issuer={self.issuer!r}, subject={self.subject!r}, "
            f"scopes={set(self.scopes)!r}, client_id={self.client_id!r}, jkt={self.jkt!r}{token})"
        )

    __str__ = __repr__

    @property
    def key(self) -> str:
        """``subject`` when it is path-safe, else a digest of issuer and subject."""
        return _key(self.issuer, self.subject)

    @property
    def binding(self) -> str:
        """What a session is bound to: issuer and subject, whatever ``key`` looks like."""
        return _binding(self.issuer, self.subject)


# Both are read several times on every call (session binding, logs, audit, metrics);
# the few principals a replica sees are worth remembering.
@functools.lru_cache(maxsize=4096)
def _binding(issuer: str, subject: str) -> str:
    return hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _key(issuer: str, subject: str) -> str:
    if _SAFE_SUBJECT.match(subject) and subject not in (".", ".."):
        return subject
    return f"sha256-{_binding(issuer, subject)[:32]}"


class AuthError(Exception):
    """A refusal that becomes an HTTP response with a ``WWW-Authenticate`` challenge:
    401 for a missing/invalid token, 403 for ``insufficient_scope`` (RFC 6750 §3)."""

    def __init__(self, status: int, message: str, www_authenticate: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.www_authenticate = www_authenticate
