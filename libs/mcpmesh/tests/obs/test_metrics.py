"""``/metrics``: scraped after real calls, the counters moved; each app counts apart."""

from __future__ import annotations

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mcpmesh import Context, Service, ToolResult
from mcpmesh.app.observe import auth_reason, with_parts
from mcpmesh.auth import AuthError
from mcpmesh.config import ServerSettings
from mcpmesh.obs.metrics import Metrics, auth_failure, rate_limited, upstream
from mcpmesh.obs.settings import ObsSettings
from mcpmesh.testing import RawClient, serve_in_background


class Text(msgspec.Struct):
    text: str


def echo_service(name: str = "metered") -> Service:
    service = Service(name, version="0", settings=ServerSettings())

    @service.tool(read_only=True)
    async def echo(ctx: Context, args: Text) -> str:
        """Returns its input, timing a pretend upstream call."""
        with upstream("github"):
            rate_limited("github", 0.25)
        return args.text

    @service.tool(read_only=True)
    async def fail(ctx: Context, args: Text) -> ToolResult:
        """Always an isError result."""
        return ToolResult.error(args.text)

    @service.tool(read_only=True)
    async def refuse(ctx: Context, args: Text) -> str:
        """Counts a refusal the way transport code would."""
        auth_failure("session_mismatch")
        return args.text

    return service


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


async def scrape(http: aiohttp.ClientSession, base: str) -> dict:
    async with http.get(base + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return samples(await response.text())


async def test_calls_latency_upstream_and_sessions_are_counted() -> None:
    async with (
        serve_in_background(echo_service()) as running,
        aiohttp.ClientSession() as http,
    ):
        raw = RawClient(http, running.url)
        await raw.initialize()
        for _ in range(3):
            answer = await raw.call("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
            assert answer["result"]["content"][0]["text"] == "hi"
        await raw.call("tools/call", {"name": "fail", "arguments": {"text": "no"}})
        await raw.call("tools/call", {"name": "refuse", "arguments": {"text": "bad"}})
        unknown = await raw.call("tools/call", {"name": "nope", "arguments": {}})
        assert "error" in unknown
        await raw.call("tools/list")
        found = await scrape(http, running.base)

    def calls(tool: str, outcome: str, method: str = "tools/call") -> float:
        return value(
            found,
            "mcpmesh_request_duration_seconds_count",
            service="metered",
            method=method,
            tool=tool,
            outcome=outcome,
        )

    assert calls("echo", "ok") == 3
    assert calls("fail", "error") == 1
    assert calls("(unknown)", "rejected") == 1  # a client's names never become labels
    assert calls("", "ok", method="tools/list") == 1
    latency = "mcpmesh_request_duration_seconds_sum"
    assert (
        value(found, latency, service="metered", method="tools/call", tool="echo", outcome="ok") > 0
    )
    up = "mcpmesh_upstream_duration_seconds_count"
    assert value(found, up, service="metered", upstream="github", outcome="ok") == 3
    wait = "mcpmesh_upstream_rate_limit_wait_seconds_total"
    assert value(found, wait, service="metered", upstream="github") == pytest.approx(0.75)
    reason = "mcpmesh_auth_failures_total"
    assert value(found, reason, service="metered", reason="session_mismatch") == 1
    assert value(found, "mcpmesh_sessions", service="metered") == 1
    # The scrape itself is not a request into service code.
    assert value(found, "mcpmesh_requests_in_flight", service="metered") == 0


async def test_two_apps_count_apart() -> None:
    async with (
        serve_in_background(echo_service("one")) as one,
        serve_in_background(echo_service("two")) as two,
        aiohttp.ClientSession() as http,
    ):
        raw = RawClient(http, one.url)
        await raw.initialize()
        await raw.call("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
        first, second = await scrape(http, one.base), await scrape(http, two.base)
    counted = "mcpmesh_request_duration_seconds_count"
    assert any(name == counted for name, _ in first)
    assert not any(name == counted for name, _ in second)


async def test_metrics_off_means_no_route_and_no_entry() -> None:
    observe = with_parts(ObsSettings(metrics=False, call_log=False), None, None)
    assert observe.middleware == []
    async with (
        serve_in_background(echo_service(), observe=observe) as running,
        aiohttp.ClientSession() as http,
        http.get(running.base + "/metrics") as response,
    ):
        assert response.status == 404


async def test_refused_tokens_are_counted_by_reason() -> None:
    metrics = Metrics("guarded")

    async def authenticator(request: aiohttp.web.Request) -> None:
        if "Authorization" not in request.headers:
            raise AuthError(401, "no token", 'Bearer resource_metadata="x"')
        raise AuthError(401, "bad token", 'Bearer error="invalid_token"')

    from mcpmesh.app import create_app

    app = create_app(
        echo_service(),
        authenticator=authenticator,
        observe=with_parts(ObsSettings(call_log=False), metrics, None),
    )
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer x"}):
            response = await client.post("/mcp", json={}, headers=headers)
            assert response.status == 401
    found = samples(metrics.render().decode())
    name = "mcpmesh_auth_failures_total"
    assert value(found, name, service="guarded", reason="missing_token") == 1
    assert value(found, name, service="guarded", reason="invalid_token") == 2


def test_reason_of_a_scope_refusal() -> None:
    refusal = AuthError(403, "needs scope", 'Bearer error="insufficient_scope", scope="a:write"')
    assert auth_reason(refusal) == "insufficient_scope"


def test_a_failing_gauge_is_skipped_not_fatal() -> None:
    metrics = Metrics("gauged")

    def broken() -> float:
        raise RuntimeError("backend gone")

    metrics.gauge("mcpmesh_broken", "fails", broken)
    metrics.gauge("mcpmesh_fine", "works", lambda: 2.0)
    metrics.gauge(
        "mcpmesh_by_role", "labelled", lambda: {("ro",): 30.0, ("rw",): 5.0}, labels=("role",)
    )
    found = samples(metrics.render().decode())
    assert value(found, "mcpmesh_fine", service="gauged") == 2.0
    assert value(found, "mcpmesh_by_role", service="gauged", role="rw") == 5.0
    assert not any(name == "mcpmesh_broken" for name, _ in found)


def test_upstream_outside_a_request_records_nothing_and_passes_errors() -> None:
    with pytest.raises(ValueError), upstream("slack"):
        raise ValueError("upstream said no")
