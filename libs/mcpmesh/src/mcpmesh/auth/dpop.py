"""DPoP proofs (RFC 9449): a sender-constrained token is useless without the private key
its ``cnf.jkt`` names, so a stolen token cannot be replayed from elsewhere.

Each request carries a fresh proof: a JWT signed by the client's key, naming the HTTP
method and URL, when it was made, a hash of the access token and a unique ``jti``. The
``jti`` goes to a :class:`ReplayCache` so the same proof is accepted once; replicas will
share one (NATS KV) — the in-memory one here serves a single process.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from mcpmesh.auth.settings import SAFE_ALGORITHMS

_DEFAULT_PORTS = {"http": 80, "https": 443}


class DPoPError(Exception):
    """The proof is missing, malformed or does not match the request or the token."""


class ReplayCache(Protocol):
    """Remembers proof ids until they are too old to be accepted anyway."""

    async def first_use(self, key: str, expires_at: float) -> bool:
        """True the first time ``key`` is seen (and records it), False on a replay."""
        ...


class MemoryReplayCache:
    """A bounded in-process :class:`ReplayCache` (one replica). Entries are kept in the
    order they were seen and swept from the oldest once expired; when full, the oldest
    goes first. Only proofs that passed every other check (a valid signature by the
    token's own key) reach it, so only a token's holder can fill it."""

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    async def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        while self._seen and next(iter(self._seen.values())) <= now:
            self._seen.popitem(last=False)
        seen = self._seen.get(key)
        if seen is not None and seen > now:
            return False
        self._seen[key] = expires_at
        self._seen.move_to_end(key)
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True


def access_token_hash(token: str) -> str:
    """``ath``: base64url (no padding) of the SHA-256 of the access token."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def normalize_htu(url: str) -> str:
    """The URL a proof names, compared without query and fragment (RFC 9449 §4.3), with
    scheme and host lower-cased and a default port dropped (RFC 3986 §6.2.2, §6.2.3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise DPoPError("htu is not a URL") from None
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


@functools.lru_cache(maxsize=1024)
def _public_key(jwk_json: str) -> tuple[RSAKey | ECKey | OKPKey, str]:
    """A proof's ``jwk`` as a key and its RFC 7638 thumbprint. A client signs every proof
    with the same key, so the import is remembered (by the JWK's canonical JSON)."""
    try:
        key = JWKRegistry.import_key(json.loads(jwk_json))
    except (JoseError, ValueError, TypeError):
        raise DPoPError("DPoP proof jwk is not a valid key") from None
    if not isinstance(key, RSAKey | ECKey | OKPKey) or key.is_private:
        raise DPoPError("DPoP proof jwk must be a public key")
    return key, key.thumbprint()


class DPoPVerifier:
    def __init__(
        self,
        replay: ReplayCache,
        *,
        algorithms: Sequence[str] = ("ES256", "EdDSA", "RS256", "PS256"),
        max_age: float = 300.0,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unsafe = set(algorithms) - SAFE_ALGORITHMS
        if unsafe:
            raise ValueError(f"algorithms not allowed on DPoP proofs: {sorted(unsafe)}")
        self.algorithms = tuple(algorithms)
        self._replay = replay
        self._max_age = max_age
        self._leeway = leeway
        self._clock = clock

    async def verify(self, proof: str, *, method: str, url: str, access_token: str) -> str:
        """Check ``proof`` for this request and token; returns the JWK thumbprint (the
        ``jkt`` the token must be bound to). Raises :class:`DPoPError`."""
        claims, thumbprint = self._verified(proof)
        self._check_request(claims, method, url, access_token)
        lifetime = claims["iat"] + self._max_age + self._leeway
        if not await self._replay.first_use(f"{thumbprint}:{claims['jti']}", lifetime):
            raise DPoPError("DPoP proof already used")
        return thumbprint

    def _verified(self, proof: str) -> tuple[dict[str, Any], str]:
        try:
            compact = jws.extract_compact(proof.encode())
        except (JoseError, ValueError, TypeError):
            raise DPoPError("DPoP proof is not a JWS") from None
        header = dict(compact.headers())
        if header.get("typ") != "dpop+jwt":
            raise DPoPError("DPoP proof typ must be dpop+jwt")
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise DPoPError(f"DPoP proof algorithm {alg!r} not accepted")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
            raise DPoPError("DPoP proof needs a public jwk header")
        key, thumbprint = _public_key(json.dumps(jwk, sort_keys=True))
        try:
            verified = jws.validate_compact(compact, key, algorithms=[alg])
            claims = json.loads(compact.payload)
        except (JoseError, ValueError):
            verified = False
        if not verified:
            raise DPoPError("DPoP proof signature does not verify")
        if not isinstance(claims, dict):
            raise DPoPError("DPoP proof claims are not an object")
        return claims, thumbprint

    def _check_request(
        self, claims: dict[str, Any], method: str, url: str, access_token: str
    ) -> None:
        jti, iat = claims.get("jti"), claims.get("iat")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise DPoPError("DPoP proof needs a jti")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise DPoPError("DPoP proof needs an iat")
        now = self._clock()
        if iat > now + self._leeway or iat < now - self._max_age - self._leeway:
            raise DPoPError("DPoP proof iat is outside the accepted window")
        if claims.get("htm") != method.upper():
            raise DPoPError("DPoP proof htm does not match the request method")
        htu = claims.get("htu")
        if not isinstance(htu, str) or normalize_htu(htu) != normalize_htu(url):
            raise DPoPError("DPoP proof htu does not match the request URL")
        if claims.get("ath") != access_token_hash(access_token):
            raise DPoPError("DPoP proof ath does not match the access token")
