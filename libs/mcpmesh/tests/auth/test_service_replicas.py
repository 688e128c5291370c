"""Two replicas of one service on a real nats-server, with tokens from the real
authorization server: a session is bound to its principal on every replica (the binding
is in the KV-stored session), and a DPoP proof accepted by one replica is refused as a
replay by the other (the shared ``jti`` cache)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from mcpmesh.auth import AuthSettings
from mcpmesh.bus.settings import BusSettings
from mcpmesh.embedded.authserver import AuthServer
from mcpmesh.embedded.nats import NatsServer, start_nats

from .conftest import (
    GITHUB,
    authorization_code_token,
    client_credentials_token,
    dpop_proof,
    new_dpop_key,
)
from .test_service_auth import JSON_AND_SSE, Caller, build, challenge, serving

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def nats(as_workdir: Path) -> AsyncIterator[NatsServer]:
    server = await start_nats(as_workdir / "nats")
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def replicas(
    authserver: AuthServer, nats: NatsServer, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, str, list[str]]]:
    auth = AuthSettings(issuers=[authserver.issuer], resource=GITHUB)
    bus = BusSettings(
        url=nats.url, prefix=f"auth{abs(hash(request.node.name)) % 10_000}", request_timeout=2.0
    )
    ran: list[str] = []
    async with (
        serving(build(ran), auth, bus=bus) as (first, _),
        serving(build(ran), auth, bus=bus) as (second, _),
    ):
        yield first, second, ran


async def test_a_session_is_bound_to_its_principal_on_every_replica(
    authserver: AuthServer, replicas: tuple[str, str, list[str]]
) -> None:
    first, second, ran = replicas
    alice_token = (await authorization_code_token(authserver, GITHUB, ["github:read"]))[
        "access_token"
    ]
    bob_token = (await authorization_code_token(authserver, GITHUB, ["github:read"], user="bob"))[
        "access_token"
    ]
    async with aiohttp.ClientSession() as http:
        alice = Caller(http, first, alice_token)
        assert (await alice.initialize()).status == 200
        bob_elsewhere = Caller(http, second, bob_token)
        bob_elsewhere.session_id = alice.session_id
        response = await bob_elsewhere.call_tool("read_thing")
        assert response.status == 404, await response.text()
        assert ran == []
        alice_elsewhere = Caller(http, second, alice_token)
        alice_elsewhere.session_id = alice.session_id
        response = await alice_elsewhere.call_tool("read_thing")
        assert response.status == 200, await response.text()
        assert ran == ["read_thing"]
        bob_here = Caller(http, first, bob_token)  # and on the replica that created it
        bob_here.session_id = alice.session_id
        assert (await bob_here.call_tool("read_thing")).status == 404
    assert ran == ["read_thing"]


async def test_a_dpop_proof_is_accepted_once_across_replicas(
    authserver: AuthServer, replicas: tuple[str, str, list[str]]
) -> None:
    first, second, ran = replicas
    key = new_dpop_key()
    token = await client_credentials_token(authserver, GITHUB, ["github:read"], dpop_key=key)
    async with aiohttp.ClientSession() as http:
        caller = Caller(http, first, token)
        caller.dpop_key = key
        assert (await caller.initialize()).status == 200
        proof = dpop_proof(key, "POST", GITHUB, access_token=token)
        headers = JSON_AND_SSE | {
            "Mcp-Session-Id": caller.session_id or "",
            "Authorization": f"DPoP {token}",
            "DPoP": proof,
        }
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_thing"}}
        async with http.post(first, data=json.dumps(call), headers=headers) as response:
            assert response.status == 200, await response.text()
        call["id"] = 2
        async with http.post(second, data=json.dumps(call), headers=headers) as response:
            assert response.status == 401
            assert 'error="invalid_dpop_proof"' in challenge(response)
            assert "already used" in await response.text()
    assert ran == ["read_thing"]
