"""Traces across replicas on a real nats-server: a tool on replica B asks the user; the
answer is POSTed to replica C, which routes it to B over NATS. Each replica exports its
own spans (as separate processes would); the parents join them into one trace."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import msgspec
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mcpmesh import Context, Service
from mcpmesh.app import MCP_PATH, bind_socket, create_app
from mcpmesh.app.observe import with_parts
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.config import ServerSettings
from mcpmesh.guard.sealing import SealSettings
from mcpmesh.obs.settings import ObsSettings
from mcpmesh.obs.tracing import configure_tracing
from mcpmesh.testing import RawClient, read_sse

TRACE = "0af7651916cd43dd8448eb211c80319c"
CALL_PARENT = "b7ad6b7169203331"
ANSWER_PARENT = "c8be7c827a314442"


class Name(msgspec.Struct):
    name: str


def asking_service() -> Service:
    service = Service("traced-bus", version="0", settings=ServerSettings())

    @service.tool()
    async def ask(ctx: Context) -> str:
        """Asks the user for a name."""
        answer = await ctx.elicit("Who?", Name)
        return f"{answer.action}"

    return service


@contextlib.asynccontextmanager
async def traced_replica(
    bus: BusSettings, seal: SealSettings
) -> AsyncIterator[tuple[str, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    observe = with_parts(
        ObsSettings(call_log=False), None, configure_tracing("traced-bus", exporter=exporter)
    )
    app = create_app(
        asking_service(), bus=bus, sampling=SamplingSettings(), observe=observe, seal=seal
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    sock = bind_socket("127.0.0.1", 0)
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://localhost:{sock.getsockname()[1]}{MCP_PATH}", exporter
    finally:
        await runner.cleanup()


def named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (found,) = [span for span in exporter.get_finished_spans() if span.name == name]
    return found


async def test_elicitation_answer_routed_over_nats_keeps_the_trace(
    bus_settings: BusSettings, seal_settings: SealSettings
) -> None:
    async with (
        traced_replica(bus_settings, seal_settings) as (b_url, b_spans),
        traced_replica(bus_settings, seal_settings) as (c_url, c_spans),
        aiohttp.ClientSession() as http,
    ):
        on_b = RawClient(http, b_url)
        await on_b.initialize({"elicitation": {}})
        call = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "ask"}}
        response = await on_b.post(call, traceparent=f"00-{TRACE}-{CALL_PARENT}-01")
        events = read_sse(response)
        request = None
        async for event in events:
            if event.data:
                request = event.json()
                break
        assert request is not None and request["method"] == "elicitation/create"
        on_c = RawClient(http, c_url)
        on_c.session_id = on_b.session_id
        answer = {"jsonrpc": "2.0", "id": request["id"], "result": {"action": "decline"}}
        routed = await on_c.post(answer, traceparent=f"00-{TRACE}-{ANSWER_PARENT}-01")
        assert routed.status == 202, await routed.text()
        async for event in events:
            if event.data and event.json().get("id") == 5:
                assert event.json()["result"]["content"][0]["text"] == "decline"
                break
    tool = named(b_spans, "tools/call ask")
    route = named(c_spans, "nats route_response")
    deliver = named(b_spans, "nats deliver_response")
    spans = (tool, route, deliver)
    assert {format(s.context.trace_id, "032x") for s in spans} == {TRACE}
    assert format(tool.parent.span_id, "016x") == CALL_PARENT
    assert format(route.parent.span_id, "016x") == ANSWER_PARENT  # C: the answer's POST
    assert deliver.parent.span_id == route.context.span_id  # B: C's span, over NATS
    assert deliver.parent.is_remote
