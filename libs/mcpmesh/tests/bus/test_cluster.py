"""Two replicas in this process on one real nats-server: GET-stream messages from any
replica, POST streams resumed on another replica, cancellation routed, and NATS down."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec

from mcpmesh import Context, Service
from mcpmesh.bus.settings import BusSettings
from mcpmesh.config import ServerSettings
from mcpmesh.testing import RawClient, eventually, read_sse

WATCHED = "test://watched"


class Seconds(msgspec.Struct):
    seconds: float


def build(stopped: asyncio.Event | None = None, started: asyncio.Event | None = None) -> Service:
    service = Service("bus-test", version="0", settings=ServerSettings(sse_retry_ms=100))

    @service.resource(WATCHED, name="watched")
    async def watched(ctx: Context) -> str:
        return "x"

    @service.tool()
    async def touch(ctx: Context) -> str:
        """Tells subscribers the watched resource changed."""
        await service.notify_resource_updated(WATCHED)
        return "touched"

    @service.tool()
    async def poll_me(ctx: Context) -> str:
        """Closes its stream, then answers while the client is away."""
        await ctx.info("before")
        await ctx.close_stream()
        await asyncio.sleep(0.3)
        return "late answer"

    @service.tool()
    async def sleepy(ctx: Context, args: Seconds) -> str:
        if started is not None:
            started.set()
        try:
            await asyncio.sleep(args.seconds)
        finally:
            if stopped is not None:
                stopped.set()
        return "woke"

    return service


def at(http: aiohttp.ClientSession, url: str, sid: str | None) -> RawClient:
    client = RawClient(http, url)
    client.session_id = sid
    return client


async def first_data(events: Any) -> Any:
    async for event in events:
        if event.data:
            return event
    return None


async def test_get_stream_gets_messages_from_any_replica_and_resumes_elsewhere(
    bus_settings: BusSettings, replica: Any
) -> None:
    async with (
        replica(build(), bus_settings) as a,
        replica(build(), bus_settings) as b,
        aiohttp.ClientSession() as http,
    ):
        on_a = RawClient(http, a.url)
        await on_a.initialize()
        sid = on_a.session_id
        assert (await on_a.call("resources/subscribe", {"uri": WATCHED}))["result"] == {}
        get = await http.get(b.url, headers=at(http, b.url, sid).headers())
        assert get.status == 200
        events = read_sse(get)
        priming = await anext(events)
        assert priming.id.startswith("g.") and priming.data == ""
        await on_a.call("tools/call", {"name": "touch", "arguments": {}})
        update = await first_data(events)
        assert update.json()["method"] == "notifications/resources/updated"
        assert update.json()["params"] == {"uri": WATCHED}
        get.close()
        # While no GET stream is open, another update; then resume on A.
        await at(http, b.url, sid).call("tools/call", {"name": "touch", "arguments": {}})
        resumed = await http.get(
            a.url, headers=at(http, a.url, sid).headers(**{"Last-Event-ID": update.id})
        )
        assert resumed.status == 200
        missed = await asyncio.wait_for(first_data(read_sse(resumed)), 5)
        assert missed.json()["method"] == "notifications/resources/updated"
        assert int(missed.id.split(".")[1]) > int(update.id.split(".")[1])
        resumed.close()


async def test_post_stream_resumed_on_another_replica(
    bus_settings: BusSettings, replica: Any
) -> None:
    async with (
        replica(build(), bus_settings) as a,
        replica(build(), bus_settings) as b,
        aiohttp.ClientSession() as http,
    ):
        on_a = RawClient(http, a.url)
        await on_a.initialize()
        sid = on_a.session_id
        response = await on_a.post(
            {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "poll_me"}}
        )
        seen = [e async for e in read_sse(response)]  # ends when the tool closes it
        last_id = [e.id for e in seen if e.id][-1]
        assert not any(e.data and "result" in e.json() for e in seen)
        resumed = await http.get(
            b.url, headers=at(http, b.url, sid).headers(**{"Last-Event-ID": last_id})
        )
        assert resumed.status == 200
        rest = [e async for e in read_sse(resumed)]
        answers = [e.json() for e in rest if e.data and "result" in e.json()]
        assert answers and answers[0]["id"] == 5
        assert answers[0]["result"]["content"][0]["text"] == "late answer"
        # A stream nobody wrote is refused, not waited for.
        bogus = await http.get(
            b.url, headers=at(http, b.url, sid).headers(**{"Last-Event-ID": "0badc0de-aa-p9.1"})
        )
        assert bogus.status == 400


async def test_cancel_reaches_the_replica_running_the_request(
    bus_settings: BusSettings, replica: Any
) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()
    async with (
        replica(build(stopped, started), bus_settings) as a,
        replica(build(), bus_settings) as b,
        aiohttp.ClientSession() as http,
    ):
        on_a = RawClient(http, a.url)
        await on_a.initialize()
        call = asyncio.ensure_future(
            on_a.post(
                {
                    "jsonrpc": "2.0",
                    "id": 11,
                    "method": "tools/call",
                    "params": {"name": "sleepy", "arguments": {"seconds": 30}},
                }
            )
        )
        await asyncio.wait_for(started.wait(), 5)
        cancel = await at(http, b.url, on_a.session_id).post(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 11, "reason": "changed my mind"},
            }
        )
        assert cancel.status == 202
        await asyncio.wait_for(stopped.wait(), 5)
        call.cancel()


async def test_nats_down_readyz_says_so_and_nothing_hangs(tmp_path: Any, replica: Any) -> None:
    from mcpmesh.embedded.nats import start_nats

    server = await start_nats(tmp_path / "nats")
    settings = BusSettings(url=server.url, prefix="down", request_timeout=1.0)
    try:
        async with replica(build(), settings) as a, aiohttp.ClientSession() as http:
            ready = await http.get(a.base + "/readyz")
            assert ready.status == 200
            client = RawClient(http, a.url)
            await client.initialize()
            await server.kill()

            async def not_ready() -> dict[str, Any] | None:
                ready = await http.get(a.base + "/readyz")
                body = await ready.json()
                return body if ready.status == 503 and "nats" in body["problems"] else None

            await eventually(not_ready, message="/readyz never reported NATS down")
            # Calls this replica can serve alone still work (state cached here).
            local = await client.call("tools/call", {"name": "touch", "arguments": {}})
            assert "error" not in local, local
            assert local["result"]["content"] == [{"type": "text", "text": "touched"}]
            assert not local["result"].get("isError")
            # What needs the bus fails at once, clearly.
            started = asyncio.get_running_loop().time()
            fresh = RawClient(http, a.url)
            response = await fresh.post(
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                }
            )
            assert response.status == 503
            assert "NATS" in (await response.json())["error"]["message"]
            routed = await client.post({"jsonrpc": "2.0", "id": "0badc0de-aa-1", "result": {}})
            assert routed.status == 503
            assert asyncio.get_running_loop().time() - started < 3
    finally:
        await server.stop()
