"""Traces: a server span per request with the MCP attributes, the caller's trace as its
parent (``traceparent`` header or ``_meta``), upstream calls as its children."""

from __future__ import annotations

import aiohttp
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mcpmesh.app.observe import session_digest, with_parts
from mcpmesh.obs.settings import ObsSettings
from mcpmesh.obs.tracing import configure_tracing, tracing_endpoint
from mcpmesh.testing import RawClient, serve_in_background

from .test_metrics import echo_service

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


async def test_request_span_is_the_callers_child_and_upstream_is_its_child(
    exporter: InMemorySpanExporter,
) -> None:
    tracing = configure_tracing("traced", exporter=exporter)
    observe = with_parts(ObsSettings(call_log=False), None, tracing)
    async with (
        serve_in_background(echo_service("traced"), observe=observe) as running,
        aiohttp.ClientSession() as http,
    ):
        raw = RawClient(http, running.url)
        await raw.initialize()
        response = await raw.post(
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "hi"}},
            },
            traceparent=TRACEPARENT,
        )
        assert response.status == 200
        await raw.call("tools/list")  # no traceparent: a trace of its own
        session = raw.session_id
    spans = {span.name: span for span in exporter.get_finished_spans()}
    request, upstream, listing = (
        spans["tools/call echo"],
        spans["upstream github"],
        spans["tools/list"],
    )
    assert request.kind is SpanKind.SERVER
    assert format(request.context.trace_id, "032x") == TRACE_ID
    assert request.parent is not None and format(request.parent.span_id, "016x") == PARENT_ID
    assert request.attributes["mcp.method.name"] == "tools/call"
    assert request.attributes["gen_ai.tool.name"] == "echo"
    assert request.attributes["mcp.session.id"] == session_digest(session or "")
    assert session not in str(dict(request.attributes))  # the digest, never the id
    assert upstream.parent is not None and upstream.parent.span_id == request.context.span_id
    assert upstream.context.trace_id == request.context.trace_id
    assert format(listing.context.trace_id, "032x") != TRACE_ID and listing.parent is None


async def test_traceparent_in_meta_is_taken(exporter: InMemorySpanExporter) -> None:
    observe = with_parts(ObsSettings(), None, configure_tracing("traced", exporter=exporter))
    async with (
        serve_in_background(echo_service("traced"), observe=observe) as running,
        aiohttp.ClientSession() as http,
    ):
        raw = RawClient(http, running.url)
        await raw.initialize()
        answer = await raw.call(
            "tools/call",
            {"name": "fail", "arguments": {"text": "x"}, "_meta": {"traceparent": TRACEPARENT}},
        )
        assert answer["result"]["isError"] is True
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "tools/call fail"]
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.attributes["mcpmesh.outcome"] == "error"


def test_tracing_is_off_unless_configured() -> None:
    assert tracing_endpoint("", {}) is None
    assert configure_tracing("quiet", env={}) is None
    assert tracing_endpoint("", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == (
        "http://c:4318/v1/traces"
    )
    assert tracing_endpoint("http://mine:4318", {}) == "http://mine:4318/v1/traces"
    off = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    assert tracing_endpoint("", off) is None


def test_the_sdk_is_not_imported_without_tracing() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mcpmesh.app, mcpmesh.app.observe as o, mcpmesh.obs.settings as s;"
        "o.observability('x', s.ObsSettings());"
        "print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.stdout.strip() == "False", done.stderr
