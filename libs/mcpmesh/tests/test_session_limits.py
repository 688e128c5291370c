"""Sessions are bounded: evicted and idle ones are gone (404), and what one session may
hold (capabilities, client info, subscriptions) has a cap with a clear -32602."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mcpmesh.config import ServerSettings
from mcpmesh.testing import RawClient, RunningService, eventually, serve_in_background
from mcpmesh_fixture.service import create

INIT = {"protocolVersion": "2025-11-25", "clientInfo": {"name": "t", "version": "1"}}


@pytest.fixture
async def small() -> AsyncIterator[RunningService]:
    settings = ServerSettings(
        max_sessions=2,
        max_subscriptions=3,
        max_capabilities_bytes=2048,
        max_client_info_bytes=512,
        session_idle_timeout=0.05,
    )
    async with serve_in_background(create(settings)) as running:
        yield running


async def _initialize(http: aiohttp.ClientSession, url: str, **params: object) -> dict:
    response = await RawClient(http, url).post(
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {**INIT, **params}}
    )
    return {"body": await response.json(), "session": response.headers.get("Mcp-Session-Id")}


async def test_evicted_session_is_gone_from_the_store(small: RunningService) -> None:
    """The least recently used session past MCPMESH_MAX_SESSIONS ends for good: its next
    request is 404 (it used to be re-adopted from the store and answer again)."""
    async with aiohttp.ClientSession() as http:
        clients = [RawClient(http, small.url) for _ in range(3)]
        for client in clients:
            await client.initialize()
        first = clients[0]
        response = await first.post({"jsonrpc": "2.0", "id": 5, "method": "ping"})
        assert response.status == 404
        assert await small.endpoint.store.get(first.session_id or "") is None
        assert (await clients[2].call("ping"))["result"] == {}


async def test_idle_session_is_gone(small: RunningService) -> None:
    async with aiohttp.ClientSession() as http:
        client = RawClient(http, small.url)
        await client.initialize()
        endpoint = small.endpoint

        async def swept() -> bool:
            await endpoint.sweep_idle()
            return await endpoint.store.get(client.session_id or "") is None

        await eventually(swept, timeout=5, message="the idle session was never swept")
        response = await client.post({"jsonrpc": "2.0", "id": 5, "method": "ping"})
        assert response.status == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("capabilities", {"experimental": {"blob": "x" * 4096}}),
        ("capabilities", {"experimental": {f"k{i}": {} for i in range(500)}}),
        ("clientInfo", {"name": "n" * 1024, "version": "1"}),
        ("clientInfo", {"name": "n", "version": "1", "icons": [{"src": "data:," + "x" * 600}]}),
    ],
)
async def test_oversized_session_state_is_refused(
    small: RunningService, field: str, value: object
) -> None:
    async with aiohttp.ClientSession() as http:
        answer = await _initialize(http, small.url, **{field: value})
        assert answer["session"] is None
        error = answer["body"]["error"]
        assert error["code"] == -32602 and field in error["message"]
        assert not small.endpoint.runtimes
        ok = await _initialize(http, small.url, capabilities={"experimental": {"a": 1}})
        assert ok["session"] is not None


async def test_subscriptions_are_capped(small: RunningService) -> None:
    async with aiohttp.ClientSession() as http:
        client = RawClient(http, small.url)
        await client.initialize()
        for i in range(3):
            uri = f"test://template/{i}/data"
            assert (await client.call("resources/subscribe", {"uri": uri}))["result"] == {}
        again = await client.call("resources/subscribe", {"uri": "test://template/0/data"})
        assert again["result"] == {}  # already held: no new entry
        over = await client.call("resources/subscribe", {"uri": "test://template/9/data"})
        assert over["error"]["code"] == -32602 and "3 subscriptions" in over["error"]["message"]
        state = await small.endpoint.store.get(client.session_id or "")
        assert state is not None and len(state.subscriptions) == 3
