"""The resource server's front door: from an HTTP request's headers to a
:class:`~mcpmesh.auth.Principal`, or an :class:`~mcpmesh.auth.AuthError` whose status
and ``WWW-Authenticate`` challenge the transport sends back.

Tokens are read only from the ``Authorization`` header (RFC 6750 §2.1; never from a
query string or body), as ``Bearer`` or ``DPoP``. A token bound to a key (``cnf.jkt``)
is accepted only with a valid DPoP proof of that key, and never as ``Bearer``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import msgspec
from aiohttp import web
from multidict import MultiMapping

from mcpmesh.auth.cache import ExpiringCache, token_digest
from mcpmesh.auth.challenge import insufficient_scope, unauthorized
from mcpmesh.auth.dpop import DPoPError, DPoPVerifier, MemoryReplayCache, ReplayCache
from mcpmesh.auth.introspection import ClientCredentials, Introspector
from mcpmesh.auth.jwks import JWKSCache
from mcpmesh.auth.jwt import IssuerUnavailable, JWTValidator, TokenError, peek_issuer
from mcpmesh.auth.metadata import (
    MetadataError,
    fetch_issuer_metadata,
    metadata_url,
    protected_resource_metadata,
)
from mcpmesh.auth.principal import AuthError, Principal
from mcpmesh.auth.settings import AuthSettings

_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


#: Request headers as aiohttp has them (``CIMultiDict``/``CIMultiDictProxy``): case-
#: insensitive, and a repeated header stays visible (two ``Authorization`` are refused).
Headers = MultiMapping[str]


class _Validator(Protocol):
    async def validate(self, token: str) -> dict[str, Any]: ...


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The principal a validated token names. ``scope`` is RFC 9068's space-separated
    string; ``scp`` (a list or string) is what Entra ID sends."""
    raw = claims.get("scope", claims.get("scp", ""))
    scopes = raw.split() if isinstance(raw, str) else [s for s in raw if isinstance(s, str)]
    client_id = claims.get("client_id", claims.get("azp"))
    confirmation = claims.get("cnf")
    jkt = confirmation.get("jkt") if isinstance(confirmation, dict) else None
    subject = claims.get("sub") or client_id
    if not isinstance(subject, str) or not subject:
        raise TokenError("token names no subject")
    return Principal(
        issuer=str(claims["iss"]),
        subject=subject,
        scopes=frozenset(scopes),
        client_id=client_id if isinstance(client_id, str) else None,
        jkt=jkt if isinstance(jkt, str) else None,
    )


class Authenticator:
    """Validates access tokens for one resource (this service's canonical URL).

    ``scopes`` are what the service offers: named in the 401 challenge and in the
    protected resource metadata. Call :meth:`aclose` (or use ``async with``) to close
    the HTTP client it opened.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        scopes: Sequence[str] = (),
        http: aiohttp.ClientSession | None = None,
        replay: ReplayCache | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings.checked()
        if not self.settings.enabled:
            raise ValueError("Authenticator needs MCPMESH_AUTH_ISSUERS")
        self.scopes = tuple(scopes)
        self.resource_metadata_url = metadata_url(self.settings.resource)
        self._http = http
        self._own_http = http is None
        self._clock = clock
        self._monotonic = monotonic
        self._validators: dict[str, _Validator] = {}
        self._discovery_failed: dict[str, float] = {}
        self._started = asyncio.Lock()
        self._verified: ExpiringCache[Principal] = ExpiringCache(self.settings.token_cache_size)
        #: ``Authorization`` values already parsed: (scheme, token, the token's digest).
        #: A client sends the same value call after call; parsing it (a regex over the
        #: whole token and a SHA-256) was most of what a cached token cost.
        self._parsed: dict[str, tuple[str, str, str]] = {}
        origin = urlsplit(self.settings.resource)
        self._origin = f"{origin.scheme}://{origin.netloc}"
        self.dpop = DPoPVerifier(
            replay or MemoryReplayCache(clock=clock),
            algorithms=self.settings.dpop_algorithms,
            max_age=self.settings.dpop_max_age,
            leeway=self.settings.leeway,
            clock=clock,
        )

    # -- set-up --------------------------------------------------------------------

    async def start(self) -> None:
        """Discover each issuer's JWKS (or introspection endpoint). Done on the first
        request when not called; an unreachable issuer is tried again after
        ``jwks_min_refresh_interval`` (until then requests get 503 at once)."""
        async with self._started:
            for issuer in self.settings.issuers:
                if issuer in self._validators:
                    continue
                failed_at = self._discovery_failed.get(issuer)
                interval = self.settings.jwks_min_refresh_interval
                if failed_at is not None and self._monotonic() - failed_at < interval:
                    raise IssuerUnavailable(f"{issuer}: metadata unavailable, retrying later")
                try:
                    self._validators[issuer] = await self._validator_for(issuer)
                except IssuerUnavailable:
                    self._discovery_failed[issuer] = self._monotonic()
                    raise

    async def _validator_for(self, issuer: str) -> _Validator:
        settings, http = self.settings, self._client()
        metadata: dict[str, Any] = {}
        configured = (
            settings.jwks_url if settings.validation == "jwt" else settings.introspection_url
        )
        if not configured:
            try:
                metadata = await fetch_issuer_metadata(http, issuer, settings.http_timeout)
            except MetadataError as exc:
                raise IssuerUnavailable(str(exc)) from None
        if settings.validation == "introspection":
            endpoint = configured or metadata.get("introspection_endpoint")
            if not isinstance(endpoint, str):
                raise IssuerUnavailable(f"{issuer} has no introspection_endpoint")
            return Introspector(
                endpoint,
                ClientCredentials.from_file(settings.introspection_client_file),
                http,
                issuer=issuer,
                audience=settings.resource,
                cache_ttl=settings.introspection_cache_ttl,
                cache_size=settings.token_cache_size,
                timeout=settings.http_timeout,
                clock=self._clock,
            )
        jwks_url = configured or metadata.get("jwks_uri")
        if not isinstance(jwks_url, str):
            raise IssuerUnavailable(f"{issuer} has no jwks_uri")
        jwks = JWKSCache(
            jwks_url,
            http,
            ttl=settings.jwks_cache_ttl,
            min_refresh_interval=settings.jwks_min_refresh_interval,
            timeout=settings.http_timeout,
            monotonic=self._monotonic,
        )
        return JWTValidator(
            issuer,
            settings.resource,
            jwks,
            algorithms=settings.algorithms,
            leeway=settings.leeway,
            required_claims=settings.required_claims,
            clock=self._clock,
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.close()
        self._http = None

    async def __aenter__(self) -> Authenticator:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def validator(self, issuer: str) -> _Validator | None:
        """The validator of a trusted issuer, once started (tests look at its caches)."""
        return self._validators.get(issuer)

    # -- documents and challenges ------------------------------------------------------

    def metadata_document(self, scopes: Sequence[str] | None = None) -> dict[str, Any]:
        """The RFC 9728 protected resource metadata of this service."""
        return protected_resource_metadata(
            self.settings.resource,
            self.settings.issuers,
            self.scopes if scopes is None else scopes,
            dpop_algorithms=self.settings.dpop_algorithms,
            dpop_bound_access_tokens_required=self.settings.require_dpop,
        )

    def refuse(
        self, error: str | None, description: str | None, *, dpop_error: str | None = None
    ) -> AuthError:
        return unauthorized(
            self.resource_metadata_url,
            scopes=self.scopes,
            error=error,
            description=description,
            dpop_algorithms=self.settings.dpop_algorithms,
            dpop_error=dpop_error,
        )

    def insufficient_scope(self, needed: Sequence[str]) -> AuthError:
        """403 for a call that needs scopes the token lacks (names all it needs)."""
        return insufficient_scope(self.resource_metadata_url, needed)

    # -- the check ---------------------------------------------------------------------

    async def __call__(self, request: web.Request) -> Principal:
        """The transport's authentication seam (API.md): the request's principal.

        The URL a DPoP proof must name is this service's public origin (from
        ``MCPMESH_AUTH_RESOURCE``) with the request's path: behind a proxy the socket's
        own scheme and host are not what the client used.
        """
        return await self.authenticate(request.method, self._origin + request.path, request.headers)

    async def authenticate(self, method: str, url: str, headers: Headers) -> Principal:
        """Who is calling ``method url``; :class:`AuthError` when no acceptable token.

        ``url`` is the URL the client used (scheme, host, path): what a DPoP proof's
        ``htu`` must name. Behind a proxy, pass the public URL, not the socket's.
        """
        scheme, token, key = self._credentials(headers)
        try:
            principal = await self._principal(token, key)
        except TokenError as exc:
            raise self.refuse("invalid_token", str(exc)) from None
        except IssuerUnavailable:
            error = self.refuse(None, "the authorization server cannot be reached")
            raise AuthError(503, error.message, error.www_authenticate) from None
        await self._check_binding(principal, scheme, token, method, url, headers)
        return principal

    def _credentials(self, headers: Headers) -> tuple[str, str, str]:
        """The scheme, the token and its digest (the caches' key) of the one
        ``Authorization`` header; refused when there is none, more than one, or it is
        malformed."""
        values = headers.getall("Authorization", [])
        if not values:
            raise self.refuse(None, "an access token is required")
        if len(values) > 1:
            raise self.refuse("invalid_request", "more than one Authorization header")
        parsed = self._parsed.get(values[0])
        if parsed is None:
            parsed = self._parse(values[0])
            if len(self._parsed) >= max(1, self.settings.token_cache_size):
                self._parsed.clear()
            self._parsed[values[0]] = parsed
        return parsed

    def _parse(self, value: str) -> tuple[str, str, str]:
        scheme, _, token = value.strip().partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in ("bearer", "dpop"):
            raise self.refuse(None, "an access token is required (Bearer or DPoP)")
        if not _TOKEN68.match(token):
            raise self.refuse("invalid_request", "malformed Authorization header")
        return scheme, token, token_digest(token)

    async def _principal(self, token: str, key: str) -> Principal:
        now = self._clock()
        cached = self._verified.get(key, now)
        if cached is not None:
            return cached
        if len(self._validators) < len(self.settings.issuers):
            await self.start()
        issuer = self.settings.issuers[0] if len(self.settings.issuers) == 1 else None
        if issuer is None:
            issuer = peek_issuer(token)  # picks the validator; the validator checks it again
            if issuer not in self._validators:
                raise TokenError("token from another issuer")
        claims = await self._validators[issuer].validate(token)
        principal = msgspec.structs.replace(principal_from_claims(claims), access_token=token)
        expires = claims.get("exp")
        # An introspected token is asked about again after its own short cache (it may
        # have been revoked); a JWT is valid until it expires.
        if isinstance(expires, int | float) and self.settings.validation == "jwt":
            self._verified.put(key, principal, float(expires) + self.settings.leeway)
        return principal

    async def _check_binding(
        self,
        principal: Principal,
        scheme: str,
        token: str,
        method: str,
        url: str,
        headers: Headers,
    ) -> None:
        if principal.jkt is None:
            if scheme == "dpop":
                raise self.refuse("invalid_token", "a DPoP token must be bound to a key (cnf.jkt)")
            if self.settings.require_dpop:
                raise self.refuse(
                    "invalid_token",
                    "this resource accepts only DPoP-bound tokens",
                    dpop_error="invalid_token",
                )
            return
        if scheme != "dpop":
            raise self.refuse(
                "invalid_token",
                "a DPoP-bound token must be sent with the DPoP scheme and a proof",
                dpop_error="invalid_token",
            )
        proofs = headers.getall("DPoP", [])
        if len(proofs) != 1:
            raise self.refuse(
                "invalid_token",
                "exactly one DPoP proof header is required",
                dpop_error="invalid_dpop_proof",
            )
        try:
            thumbprint = await self.dpop.verify(
                proofs[0], method=method, url=url, access_token=token
            )
        except DPoPError as exc:
            raise self.refuse("invalid_token", str(exc), dpop_error="invalid_dpop_proof") from None
        if thumbprint != principal.jkt:
            raise self.refuse(
                "invalid_token",
                "the DPoP proof key is not the token's key",
                dpop_error="invalid_token",
            )
