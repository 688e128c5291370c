"""JWT access tokens (RFC 9068) checked locally: signature against the issuer's JWKS,
then issuer, audience (this service's canonical URL, RFC 8707), ``exp``/``nbf``.

JOSE is joserfc's: every decode names the one algorithm the header claims after it was
checked against the allowlist, so ``none`` and HS* never reach a verifier, and joserfc
refuses a key whose type does not fit the algorithm.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jws import CompactSignature

from mcpmesh.auth.jwks import JWKSCache, JWKSError, JWKSUnavailable
from mcpmesh.auth.settings import SAFE_ALGORITHMS


class TokenError(Exception):
    """The token is not acceptable; the message says why (safe to show the client)."""


class IssuerUnavailable(Exception):
    """The authorization server could not be reached to check the token (→ 503)."""


def parse_compact(token: str) -> CompactSignature:
    """The token's parts, unverified: the header picks the key and refuses bad
    algorithms before any signature work."""
    try:
        return jws.extract_compact(token.encode())
    except (JoseError, ValueError, TypeError):
        raise TokenError("not a JWS compact token") from None


def peek_issuer(token: str) -> str | None:
    """The ``iss`` claim, unverified: only to pick which issuer's validator checks it."""
    try:
        value = json.loads(jws.extract_compact(token.encode()).payload).get("iss")
    except (JoseError, ValueError, TypeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class JWTValidator:
    """Validates access tokens of one issuer for one audience."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        jwks: JWKSCache,
        *,
        algorithms: Sequence[str] = ("RS256", "PS256", "ES256", "EdDSA"),
        leeway: float = 30.0,
        required_claims: Sequence[str] = ("iss", "sub", "aud", "exp"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        unsafe = set(algorithms) - SAFE_ALGORITHMS
        if unsafe:
            raise ValueError(f"algorithms not allowed on access tokens: {sorted(unsafe)}")
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.algorithms = frozenset(algorithms)
        self._clock = clock
        options: dict[str, Any] = {name: {"essential": True} for name in required_claims}
        options["iss"] = {"essential": True, "value": issuer}
        options["aud"] = {"essential": True, "value": audience}
        self._claims = jose_jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()), leeway=int(leeway), **options
        )

    async def validate(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`TokenError`."""
        compact = parse_compact(token)
        header = compact.headers()
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenError(f"signature algorithm {alg!r} not accepted")
        if header.get("typ", "at+jwt").lower() in ("dpop+jwt", "jwt+dpop"):
            raise TokenError("a DPoP proof is not an access token")
        try:
            key = await self.jwks.key(header.get("kid"))
        except JWKSUnavailable as exc:
            raise IssuerUnavailable(str(exc)) from None
        except JWKSError as exc:
            raise TokenError(f"no key to verify the token: {exc}") from None
        try:
            verified = jws.validate_compact(compact, key, algorithms=[alg])
        except JoseError:
            verified = False
        if not verified:
            raise TokenError("bad signature")
        try:
            claims = json.loads(compact.payload)
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            raise TokenError("token claims are not a JSON object")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        try:
            self._claims.validate(claims)
        except ExpiredTokenError:
            raise TokenError("token expired") from None
        except MissingClaimError as exc:
            raise TokenError(f"missing claim: {exc.claim}") from None
        except InvalidClaimError as exc:
            reason = {
                "aud": "token not issued for this resource",
                "iss": "token from another issuer",
                "nbf": "token not valid yet",
            }.get(exc.claim, f"invalid claim: {exc.claim}")
            raise TokenError(reason) from None
        except JoseError as exc:
            raise TokenError(f"invalid claims: {exc.description}") from None
