"""Opaque access tokens, checked by asking the authorization server (RFC 7662).

The answer is kept for a short while (``cache_ttl``, never past the token's ``exp``), so
a session of calls costs one round trip per token, and a flood of one bogus token costs
one. The service authenticates to the endpoint with its own client credentials.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from mcpmesh.auth.cache import ExpiringCache, token_digest
from mcpmesh.auth.jwt import IssuerUnavailable, TokenError


class ClientCredentials:
    """A confidential client's id and secret (the secret never reaches a repr)."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self._secret = client_secret

    @classmethod
    def from_file(cls, path: str | Path) -> ClientCredentials:
        """``{"client_id": …, "client_secret": …}`` (the file ``mcpmesh`` writes 0600)."""
        data = json.loads(Path(path).read_text())
        if not isinstance(data.get("client_id"), str) or not isinstance(
            data.get("client_secret"), str
        ):
            raise ValueError(f"{path}: needs client_id and client_secret strings")
        return cls(data["client_id"], data["client_secret"])

    def authorization(self) -> str:
        """The ``Authorization`` header value (RFC 6749 §2.3.1: each part form-encoded)."""
        return aiohttp.encode_basic_auth(
            quote(self.client_id, safe=""), quote(self._secret, safe="")
        )

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=***)"


class Introspector:
    """Validates opaque tokens of one issuer for one audience by introspection."""

    def __init__(
        self,
        endpoint: str,
        credentials: ClientCredentials,
        http: aiohttp.ClientSession,
        *,
        issuer: str,
        audience: str,
        cache_ttl: float = 30.0,
        cache_size: int = 10_000,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.issuer = issuer
        self.audience = audience
        self._credentials = credentials
        self._http = http
        self._cache_ttl = cache_ttl
        self._timeout = timeout
        self._clock = clock
        self._answers: ExpiringCache[dict[str, Any]] = ExpiringCache(cache_size)
        #: Requests sent to the endpoint (what the cache saves).
        self.requests = 0

    async def validate(self, token: str) -> dict[str, Any]:
        """The token's claims when the AS says it is active for this audience."""
        key, now = token_digest(token), self._clock()
        answer = self._answers.get(key, now)
        if answer is None:
            answer = await self._ask(token)
            expires = min(now + self._cache_ttl, float(answer.get("exp") or now + self._cache_ttl))
            self._answers.put(key, answer, expires)
        return self._check(answer, now)

    async def _ask(self, token: str) -> dict[str, Any]:
        self.requests += 1
        try:
            async with self._http.post(
                self.endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                headers={
                    "Accept": "application/json",
                    "Authorization": self._credentials.authorization(),
                },
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                answer = await response.json(content_type=None)
                if response.status == 400 and _error(answer) == "unsupported_token_type":
                    return {"active": False}  # e.g. a JWT for another resource (RFC 7662 §2.3)
                if response.status != 200:
                    raise IssuerUnavailable(f"introspection failed (HTTP {response.status})")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise IssuerUnavailable(
                f"introspection unreachable: {exc or type(exc).__name__}"
            ) from None
        if not isinstance(answer, dict):
            raise IssuerUnavailable("introspection answer is not an object")
        return answer

    def _check(self, answer: dict[str, Any], now: float) -> dict[str, Any]:
        if answer.get("active") is not True:
            raise TokenError("token not active")
        exp = answer.get("exp")
        if isinstance(exp, int | float) and exp <= now:
            raise TokenError("token expired")
        if answer.get("iss", self.issuer) != self.issuer:
            raise TokenError("token from another issuer")
        audience = answer.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience or []
        if self.audience not in audiences:
            raise TokenError("token not issued for this resource")
        if not isinstance(answer.get("sub") or answer.get("client_id"), str):
            raise TokenError("introspection names no subject")
        return {"iss": self.issuer, **answer}


def _error(answer: Any) -> Any:
    return answer.get("error") if isinstance(answer, dict) else None
