"""Authentication settings: ``MCPMESH_AUTH_…`` environment variables.

A service is a resource server (RFC 9728): it accepts access tokens issued for its own
canonical URL by the authorization servers it trusts, and no others.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from mcpmesh.config import SettingsError

#: Asymmetric signature algorithms a token may use. ``none`` and the HMAC family (HS*)
#: are refused whatever the settings say: a resource server holds no shared secret, and
#: an HS256 token "signed" with the issuer's public key is the classic forgery.
SAFE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class AuthSettings(msgspec.Struct, kw_only=True, frozen=True):
    """How a service checks who is calling (prefix ``MCPMESH_AUTH_``)."""

    #: Issuer URLs of the trusted authorization servers; empty = authentication off.
    issuers: list[str] = []
    #: This service's canonical URL (RFC 8707 resource), e.g. ``https://mcp.example.com/github/mcp``:
    #: a token's ``aud`` must name it.
    resource: str = ""
    #: JWKS URL, instead of the ``jwks_uri`` of the issuer's metadata (one issuer only).
    jwks_url: str = ""
    #: ``jwt``: validate JWT access tokens locally; ``introspection``: ask the AS (RFC 7662).
    validation: Literal["jwt", "introspection"] = "jwt"
    #: RFC 7662 introspection endpoint; empty = the issuer metadata's ``introspection_endpoint``.
    introspection_url: str = ""
    #: JSON file ``{"client_id": …, "client_secret": …}`` the service introspects with.
    introspection_client_file: str = ""
    #: Seconds an introspection answer (active or not) is reused.
    introspection_cache_ttl: float = 30.0
    #: Refuse tokens that are not DPoP-bound (RFC 9449); bound tokens always need a proof.
    require_dpop: bool = False
    #: Seconds of clock skew allowed on ``exp``, ``nbf`` and DPoP ``iat``.
    leeway: float = 30.0
    #: Signature algorithms accepted on access tokens (asymmetric ones only).
    algorithms: list[str] = msgspec.field(
        default_factory=lambda: ["RS256", "PS256", "ES256", "EdDSA"]
    )
    #: Signature algorithms accepted on DPoP proofs.
    dpop_algorithms: list[str] = msgspec.field(
        default_factory=lambda: ["ES256", "EdDSA", "RS256", "PS256"]
    )
    #: Seconds a DPoP proof is accepted after its ``iat``.
    dpop_max_age: float = 300.0
    #: Claims every access token must carry.
    required_claims: list[str] = msgspec.field(default_factory=lambda: ["iss", "sub", "aud", "exp"])
    #: Seconds the issuer's JWKS is kept before it is fetched again.
    jwks_cache_ttl: float = 3600.0
    #: Least seconds between two JWKS fetches caused by an unknown ``kid``.
    jwks_min_refresh_interval: float = 30.0
    #: Validated tokens remembered (by digest, until they expire) so a repeat costs no signature check.
    token_cache_size: int = 10_000
    #: Seconds an HTTP request to an authorization server may take.
    http_timeout: float = 5.0
    #: ``tools/list`` shows every tool, not only those the caller's scopes allow.
    list_all_tools: bool = False
    #: Serve on a non-loopback address without authentication (refused otherwise; logged loudly).
    allow_unauthenticated: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.issuers)

    def checked(self) -> AuthSettings:
        """The settings, or :class:`SettingsError` naming the variable that is wrong."""
        if not self.enabled:
            return self
        if not self.resource:
            raise SettingsError("MCPMESH_AUTH_RESOURCE: required when MCPMESH_AUTH_ISSUERS is set")
        for name, algorithms in (
            ("MCPMESH_AUTH_ALGORITHMS", self.algorithms),
            ("MCPMESH_AUTH_DPOP_ALGORITHMS", self.dpop_algorithms),
        ):
            unsafe = sorted(set(algorithms) - SAFE_ALGORITHMS)
            if unsafe or not algorithms:
                raise SettingsError(
                    f"{name}: {', '.join(unsafe) or '(empty)'} not allowed; "
                    f"choose from {', '.join(sorted(SAFE_ALGORITHMS))}"
                )
        if self.jwks_url and len(self.issuers) > 1:
            raise SettingsError("MCPMESH_AUTH_JWKS_URL: only with a single issuer")
        if self.validation == "introspection" and not self.introspection_client_file:
            raise SettingsError(
                "MCPMESH_AUTH_INTROSPECTION_CLIENT_FILE: required with MCPMESH_AUTH_VALIDATION=introspection"
            )
        if self.validation == "introspection" and len(self.issuers) > 1:
            raise SettingsError("MCPMESH_AUTH_VALIDATION=introspection: only with a single issuer")
        return self


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def exposure_warning(host: str, settings: AuthSettings) -> str | None:
    """Refuse (:class:`SettingsError`) to serve ``host`` beyond loopback without
    authentication; with ``MCPMESH_AUTH_ALLOW_UNAUTHENTICATED`` the refusal becomes the
    warning returned, for the caller to log loudly. None when nothing is wrong."""
    if settings.enabled or host in _LOOPBACK or host.startswith("127."):
        return None
    message = (
        f"serving on {host} without authentication: anyone who reaches this address "
        "calls the tools with the service's credentials"
    )
    if settings.allow_unauthenticated:
        return message + " (MCPMESH_AUTH_ALLOW_UNAUTHENTICATED=true)"
    raise SettingsError(
        f"{message}. Set MCPMESH_AUTH_ISSUERS and MCPMESH_AUTH_RESOURCE, listen on "
        "127.0.0.1, or opt out explicitly with MCPMESH_AUTH_ALLOW_UNAUTHENTICATED=true"
    )
