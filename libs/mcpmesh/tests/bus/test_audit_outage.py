"""The audit trail through a NATS outage: events wait in the buffer and are published
once NATS is back, or — with a full buffer — calls wait or are refused, never run
unrecorded (a real nats-server, stopped and started again on the same store)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import nats

from mcpmesh import Context, Service
from mcpmesh.bus.audit import audit_stream_name, read_stream, verify_events
from mcpmesh.bus.settings import BusSettings
from mcpmesh.embedded.nats import NatsServer, start_nats
from mcpmesh.testing import RawClient, eventually


class Note(msgspec.Struct):
    text: str


def build() -> Service:
    service = Service("outage", version="0")

    @service.tool()
    async def note(ctx: Context, args: Note) -> str:
        """Echoes."""
        return args.text

    return service


async def stored_events(url: str, prefix: str) -> list[Any]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=5)
        return [m async for m in read_stream(js, audit_stream_name(prefix))]
    finally:
        await nc.close()


async def call(client: RawClient, text: str) -> dict[str, Any]:
    return await client.call("tools/call", {"name": "note", "arguments": {"text": text}})


async def test_events_made_while_nats_is_down_are_published_after(
    tmp_path: Path, replica: Any
) -> None:
    server = await start_nats(tmp_path / "nats")
    port = server.port
    settings = BusSettings(url=server.url, prefix="outage", request_timeout=1.0)
    try:
        async with replica(build(), settings) as a, aiohttp.ClientSession() as http:
            client = RawClient(http, a.url)
            await client.initialize()
            for i in range(5):
                await call(client, f"before-{i}")
            await asyncio.wait_for(a.bus.auditor.flushed(), 10)
            await server.kill()
            await eventually(
                lambda: not a.bus.nc.is_connected, timeout=20, message="NATS seen down"
            )
            answers = await asyncio.gather(*(call(client, f"during-{i}") for i in range(200)))
            assert all("result" in answer for answer in answers)
            assert len(a.bus.auditor.pending) == 200  # kept, not dropped
            server = await start_nats(tmp_path / "nats", port)
            await asyncio.wait_for(a.bus.auditor.flushed(), 30)
            for i in range(5):
                await call(client, f"after-{i}")
            await asyncio.wait_for(a.bus.auditor.flushed(), 10)
        messages = await stored_events(server.url, "outage")
        verdict = await verify_events(messages)
        assert verdict.ok, verdict.problems
        assert verdict.checked == 210
        (chain,) = verdict.chains
        assert chain.final and chain.covered == 210
    finally:
        await server.stop()


async def test_a_full_buffer_refuses_calls_clearly_when_set_to_fail(
    tmp_path: Path, replica: Any
) -> None:
    server: NatsServer = await start_nats(tmp_path / "nats")
    port = server.port
    settings = BusSettings(
        url=server.url,
        prefix="full",
        request_timeout=1.0,
        audit_buffer=3,
        audit_when_full="fail",
    )
    try:
        async with replica(build(), settings) as a, aiohttp.ClientSession() as http:
            client = RawClient(http, a.url)
            await client.initialize()
            await server.kill()
            await eventually(
                lambda: not a.bus.nc.is_connected, timeout=20, message="NATS seen down"
            )
            for i in range(3):
                assert "result" in await call(client, f"kept-{i}")
            refused = await call(client, "refused")
            assert "not keeping up" in refused["error"]["message"]
            assert "was not run" in refused["error"]["message"]
            server = await start_nats(tmp_path / "nats", port)
            await asyncio.wait_for(a.bus.auditor.flushed(), 30)
            assert "result" in await call(client, "accepted again")
            await asyncio.wait_for(a.bus.auditor.flushed(), 10)
        messages = await stored_events(server.url, "full")
        texts = {e.outcome for m in messages if not m.checkpoint for e in m.events() if e}
        assert texts == {"ok"}
        verdict = await verify_events(messages)
        assert verdict.ok and verdict.checked == 4, verdict.problems  # the refused one never ran
    finally:
        await server.stop()


async def test_a_full_buffer_makes_calls_wait_by_default(tmp_path: Path, replica: Any) -> None:
    server: NatsServer = await start_nats(tmp_path / "nats")
    port = server.port
    settings = BusSettings(url=server.url, prefix="wait", request_timeout=1.0, audit_buffer=3)
    assert settings.audit_when_full == "wait"
    try:
        async with replica(build(), settings) as a, aiohttp.ClientSession() as http:
            client = RawClient(http, a.url)
            await client.initialize()
            await server.kill()
            await eventually(
                lambda: not a.bus.nc.is_connected, timeout=20, message="NATS seen down"
            )
            for i in range(3):
                await call(client, f"kept-{i}")
            waiting = asyncio.ensure_future(call(client, "waits"))
            await eventually(  # held at the gate
                lambda: a.bus.auditor.waiting == 1, timeout=20, message="the call waits for room"
            )
            assert not waiting.done()
            server = await start_nats(tmp_path / "nats", port)
            answer = await asyncio.wait_for(waiting, 30)
            assert answer["result"]["content"][0]["text"] == "waits"
            await asyncio.wait_for(a.bus.auditor.flushed(), 10)
        verdict = await verify_events(await stored_events(server.url, "wait"))
        assert verdict.ok and verdict.checked == 4, verdict.problems
    finally:
        await server.stop()
