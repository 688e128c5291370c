"""An issuer's signing keys (JWKS), cached, fetched again on an unknown ``kid``.

A key rotation shows up as a token whose ``kid`` is not in the cached set: the set is
fetched again at once, but at most once per ``min_refresh_interval``, so a flood of
tokens with made-up ``kid`` values costs the authorization server one request, not one
per token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

#: Keys usable for verifying a signature. Symmetric (``oct``) keys in a JWKS are ignored:
#: a public document cannot hold a shared secret worth trusting.
PublicKey = RSAKey | ECKey | OKPKey


class JWKSError(RuntimeError):
    """The JWKS holds no key for the token."""


class JWKSUnavailable(JWKSError):
    """The JWKS could not be fetched and no earlier copy is at hand."""


class JWKSCache:
    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        *,
        ttl: float = 3600.0,
        min_refresh_interval: float = 30.0,
        timeout: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._monotonic = monotonic
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        #: How many times the JWKS was fetched (what the rate limit bounds).
        self.fetches = 0

    async def key(self, kid: str | None) -> PublicKey:
        """The key named ``kid`` (or the only key, for a token without ``kid``)."""
        now = self._monotonic()
        if self._fetched_at is None or now - self._fetched_at >= self._ttl:
            await self._refresh(force=True)
        found = self._find(kid)
        if found is None:
            await self._refresh(force=False)
            found = self._find(kid)
        if found is None and not self._keys:
            raise JWKSUnavailable(f"no keys from {self.url} yet")
        if found is None:
            raise JWKSError(f"no signing key {kid!r} in {self.url}")
        return found

    def _find(self, kid: str | None) -> PublicKey | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:  # one fetch at a time; waiters reuse its result
            now = self._monotonic()
            if self._fetched_at is not None:
                since = now - self._fetched_at
                if since < (self._ttl if force else self._min_refresh_interval):
                    return
            self._fetched_at = now  # even a failed fetch counts against the rate limit
            self.fetches += 1
            try:
                self._keys = await self._fetch() or self._keys
            except JWKSUnavailable:
                if not self._keys:
                    raise
                # keep the keys we have: a brief AS outage must not refuse every caller

    async def _fetch(self) -> dict[str, PublicKey]:
        try:
            async with self._http.get(
                self.url, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as response:
                if response.status != 200:
                    raise JWKSUnavailable(f"{self.url}: HTTP {response.status}")
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise JWKSUnavailable(f"{self.url}: {exc or type(exc).__name__}") from None
        return _signing_keys(document)


def _signing_keys(document: Any) -> dict[str, PublicKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSUnavailable("not a JWK Set")
    keys: dict[str, PublicKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        try:
            key = KeySet.import_key_set({"keys": [entry]}).keys[0]
        except (JoseError, ValueError, TypeError):
            continue  # one bad entry does not hide the others
        if isinstance(key, RSAKey | ECKey | OKPKey):
            keys[str(entry.get("kid") or key.thumbprint())] = key
    return keys
