"""Auth benchmark: what checking an access token costs a request.

A dev authorization server (oidc-provider, ``tools/authserver``) is started for the run
and issues real tokens. Reported, per ``Authenticator.authenticate`` call with the JWKS
already cached: a JWT seen before (the verified-token cache answers: every call of a
session after its first), a JWT checked in full each time (cache off: RS256 signature,
claims), and a DPoP-bound JWT with a fresh proof per call (the proof's ES256 signature
and the replay cache; proofs are made before timing).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from joserfc import jws
from joserfc.jwk import ECKey
from multidict import CIMultiDict

from mcpmesh.auth import Authenticator, AuthSettings
from mcpmesh.auth.dpop import access_token_hash
from mcpmesh.embedded.authserver import start_authserver

ROUNDS = int(os.environ.get("BENCH_AUTH_ROUNDS", "20000"))
RESOURCE = "http://127.0.0.1:8101/mcp"


def proof(key: ECKey, method: str, url: str, token: str | None = None) -> str:
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token:
        claims["ath"] = access_token_hash(token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims), key)


async def per_call_us(call: Callable[[int], Awaitable[object]], rounds: int) -> tuple[float, float]:
    """(median, p90) microseconds of one call, timed in batches of 100."""
    for n in range(rounds, rounds + 500):  # warm up (indices after the timed ones)
        await call(n)
    batches = []
    for start in range(0, rounds, 100):
        began = time.perf_counter()
        for n in range(start, start + 100):
            await call(n)
        batches.append((time.perf_counter() - began) / 100 * 1e6)
    batches.sort()
    return statistics.median(batches), batches[int(len(batches) * 0.9)]


async def run(workdir: Path) -> None:
    server = await start_authserver(workdir, {RESOURCE: ["github:read"]})
    try:
        token = str((await server.dev_token(RESOURCE, ["github:read"]))["access_token"])
        key = ECKey.generate_key("P-256")
        bound_response = await server.dev_token(
            RESOURCE, ["github:read"], dpop_proof=proof(key, "POST", server.token_endpoint)
        )
        bound = str(bound_response["access_token"])
        settings = AuthSettings(issuers=[server.issuer], resource=RESOURCE)
        uncached = AuthSettings(issuers=[server.issuer], resource=RESOURCE, token_cache_size=0)
        bearer = CIMultiDict({"Authorization": f"Bearer {token}"})
        async with Authenticator(settings) as cached, Authenticator(uncached) as full:
            await cached.authenticate("POST", RESOURCE, bearer)  # fetches the JWKS once
            await full.authenticate("POST", RESOURCE, bearer)
            rows = [
                ("JWT, verified before (cache)", cached, ROUNDS),
                ("JWT, full check (cache off)", full, ROUNDS // 4),
            ]
            for label, checker, rounds in rows:
                median, p90 = await per_call_us(
                    lambda _n, c=checker: c.authenticate("POST", RESOURCE, bearer), rounds
                )
                print(f"  {label:<36} median {median:7.2f} us   p90 {p90:7.2f} us")
            rounds = ROUNDS // 4
            proofs = [proof(key, "POST", RESOURCE, bound) for _ in range(rounds + 500)]

            async def with_proof(n: int) -> object:
                request = CIMultiDict({"Authorization": f"DPoP {bound}", "DPoP": proofs[n]})
                return await cached.authenticate("POST", RESOURCE, request)

            median, p90 = await per_call_us(with_proof, rounds)
            print(
                f"  {'DPoP-bound JWT + fresh proof':<36} median {median:7.2f} us   p90 {p90:7.2f} us"
            )
    finally:
        await server.stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mcpmesh-bench-auth-") as workdir:
        asyncio.run(run(Path(workdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
