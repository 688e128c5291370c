"""Auth benchmark: what checking an access token costs a request.

A dev authorization server (oidc-provider, ``tools/authserver``) is started for the run
and issues real tokens. Reported, per ``Authenticator.authenticate`` call with the JWKS
already cached: a JWT seen before (the verified-token cache answers: every call of a
session after its first), a JWT checked in full each time (cache off: RS256 signature,
claims), and a DPoP-bound JWT with a fresh proof per call (the proof's ES256 signature
and the replay cache; proofs are made before timing).

Then the whole request: a ``tools/call`` over loopback HTTP to a service built by
``create_app`` with authentication on (a validated JWT, JWKS cached; the authorization
and caller-credential middleware) against the same service with authentication off,
timed in interleaved batches so drift on a shared machine hits both alike; the
difference is what identity adds to a call (target < 0.05 ms).
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

import aiohttp
from aiohttp import web
from joserfc import jws
from joserfc.jwk import ECKey
from multidict import CIMultiDict

from mcpmesh import Context, Service
from mcpmesh.app import MCP_PATH, bind_socket, create_app
from mcpmesh.auth import Authenticator, AuthSettings
from mcpmesh.auth.dpop import access_token_hash
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.embedded.authserver import AuthServer, start_authserver

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
        await tools_call_delta(server, token)
    finally:
        await server.stop()


def _echo_service() -> Service:
    service = Service("github", version="0")

    @service.tool(read_only=True)
    async def echo(ctx: Context) -> str:
        """Answers at once."""
        return "hi"

    return service


async def _start(auth: AuthSettings) -> tuple[web.AppRunner, str]:
    app = create_app(_echo_service(), auth=auth, bus=BusSettings(), sampling=SamplingSettings())
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = bind_socket("127.0.0.1", 0)
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}{MCP_PATH}"


async def tools_call_delta(server: AuthServer, token: str) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "b", "version": "1"},
        },
    }
    call = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {}},
        }
    ).encode()
    open_runner, open_url = await _start(AuthSettings())
    auth_runner, auth_url = await _start(AuthSettings(issuers=[server.issuer], resource=RESOURCE))
    try:
        async with aiohttp.ClientSession() as http:
            targets = []
            for url, extra in ((open_url, {}), (auth_url, {"Authorization": f"Bearer {token}"})):
                async with http.post(url, json=init, headers=headers | extra) as response:
                    assert response.status == 200, await response.text()
                    sent = headers | extra | {"Mcp-Session-Id": response.headers["Mcp-Session-Id"]}
                targets.append((url, sent))

            async def batch(url: str, sent: dict[str, str], n: int = 100) -> float:
                began = time.perf_counter()
                for _ in range(n):
                    async with http.post(url, data=call, headers=sent) as response:
                        await response.read()
                        assert response.status == 200
                return (time.perf_counter() - began) / n * 1e6

            for url, sent in targets:  # warm up
                await batch(url, sent, 300)
            timings: tuple[list[float], list[float]] = ([], [])
            for _ in range(max(10, ROUNDS // 400)):
                for index, (url, sent) in enumerate(targets):
                    timings[index].append(await batch(url, sent))
        plain, authed = (statistics.median(t) for t in timings)
        print(f"  {'tools/call over HTTP, auth off':<36} median {plain:7.2f} us")
        print(f"  {'tools/call over HTTP, validated JWT':<36} median {authed:7.2f} us")
        print(f"  {'identity adds per call':<36}        {authed - plain:7.2f} us (target < 50 us)")
    finally:
        await open_runner.cleanup()
        await auth_runner.cleanup()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mcpmesh-bench-auth-") as workdir:
        asyncio.run(run(Path(workdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
