"""The 2026-07-28 stateless wire served beside 2025-11-25, on the real aiohttp stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import aiohttp
import msgspec
import pytest

from mcpmesh import Context, Service
from mcpmesh.app import create_app
from mcpmesh.bus.settings import BusSettings
from mcpmesh.config import SettingsError
from mcpmesh.guard.sealing import SealSettings
from mcpmesh.testing import (
    RawClient,
    RunningService,
    StatelessClient,
    read_sse,
    serve_in_background,
)

CONFIRM = {"action": "accept", "content": {"confirm": True}}


class Region(msgspec.Struct):
    region: Annotated[str, msgspec.Meta(extra_json_schema={"x-mcp-header": "Region"})]


def build(events: dict[str, Any]) -> Service[None]:
    service = Service("wire", version="1")
    events["done"] = []

    @service.tool()
    async def delete_things(ctx: Context, args: Region) -> str:
        """Deletes after a confirmation: nothing happens before the question."""
        await ctx.confirm(f"Delete everything in {args.region}?", key="go")
        events["done"].append(args.region)
        return f"deleted {args.region}"

    @service.tool(read_only=True)
    async def chatty(ctx: Context) -> str:
        """Logs once at info."""
        await ctx.info("working")
        return "done"

    @service.tool(read_only=True)
    async def slow(ctx: Context) -> str:
        """Waits until cancelled."""
        events["started"].set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events["cancelled"].set()
            raise
        return "never"

    @service.resource_template("note://{name}", mime_type="text/plain")
    async def note(ctx: Context, uri: str, name: str) -> str:
        """A note the user dictates (MRTR on resources/read)."""
        answer = await ctx.elicit(
            f"Text of {name}?",
            {"type": "object", "properties": {"text": {"type": "string"}}},
            key="text",
        )
        return (answer.content or {}).get("text", "")

    @service.tool(read_only=True)
    async def change_tools(ctx: Context) -> str:
        await service.notify_list_changed("tools")
        return "changed"

    return service


@pytest.fixture
async def events() -> dict[str, Any]:
    return {"started": asyncio.Event(), "cancelled": asyncio.Event()}


@pytest.fixture
async def running(events: dict[str, Any]) -> AsyncIterator[RunningService[None]]:
    async with serve_in_background(build(events)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(http: aiohttp.ClientSession, running: RunningService[None], **caps: Any) -> Any:
    return StatelessClient(http, running.url, caps)


async def test_a_confirmation_takes_two_rounds_and_acts_only_on_the_second(
    http: aiohttp.ClientSession, running: RunningService[None], events: dict[str, Any]
) -> None:
    modern = client(http, running, elicitation={})
    call = {"name": "delete_things", "arguments": {"region": "eu"}}
    first = (await modern.call("tools/call", call, **{"Mcp-Param-Region": "eu"}))["result"]
    assert first["resultType"] == "input_required"
    assert first["inputRequests"]["go"]["method"] == "elicitation/create"
    assert events["done"] == []
    retry = {**call, "inputResponses": {"go": CONFIRM}, "requestState": first["requestState"]}
    second = (await modern.call("tools/call", retry, **{"Mcp-Param-Region": "eu"}))["result"]
    assert second["resultType"] == "complete" and second["content"][0]["text"] == "deleted eu"
    assert events["done"] == ["eu"]


async def test_an_answer_without_the_sealed_state_is_ignored_so_nobody_pre_answers(
    http: aiohttp.ClientSession, running: RunningService[None], events: dict[str, Any]
) -> None:
    modern = client(http, running, elicitation={})
    call = {
        "name": "delete_things",
        "arguments": {"region": "eu"},
        "inputResponses": {"go": CONFIRM},
    }
    result = (await modern.call("tools/call", call, **{"Mcp-Param-Region": "eu"}))["result"]
    assert result["resultType"] == "input_required"
    assert events["done"] == []


async def test_a_state_issued_for_other_arguments_is_refused(
    http: aiohttp.ClientSession, running: RunningService[None], events: dict[str, Any]
) -> None:
    modern = client(http, running, elicitation={})
    call = {"name": "delete_things", "arguments": {"region": "eu"}}
    first = (await modern.call("tools/call", call, **{"Mcp-Param-Region": "eu"}))["result"]
    other = {
        "name": "delete_things",
        "arguments": {"region": "us"},
        "inputResponses": {"go": CONFIRM},
        "requestState": first["requestState"],
    }
    reply = await modern.call("tools/call", other, **{"Mcp-Param-Region": "us"})
    assert reply["error"]["code"] == -32602 and "another request" in reply["error"]["message"]
    assert events["done"] == []


async def test_without_the_elicitation_capability_a_confirmation_is_32021(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    modern = client(http, running)
    call = {"name": "delete_things", "arguments": {"region": "eu"}}
    response = await modern.post("tools/call", call, **{"Mcp-Param-Region": "eu"})
    body = await response.json()
    assert response.status == 400 and body["error"]["code"] == -32021
    assert body["id"] == modern.next_id
    assert body["error"]["data"]["requiredCapabilities"] == {"elicitation": {}}


async def test_a_parameter_header_must_match_the_argument(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    modern = client(http, running, elicitation={})
    call = {"name": "delete_things", "arguments": {"region": "eu"}}
    for headers in ({}, {"Mcp-Param-Region": "us"}):
        response = await modern.post("tools/call", call, **headers)
        assert response.status == 400 and (await response.json())["error"]["code"] == -32020


async def test_log_messages_only_when_the_request_asks_for_them(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    modern = client(http, running)
    quiet = await modern.post("tools/call", {"name": "chatty"})
    assert quiet.content_type == "application/json"
    asked = {"name": "chatty", "_meta": {"io.modelcontextprotocol/logLevel": "info"}}
    loud = await modern.post("tools/call", asked)
    assert loud.content_type == "text/event-stream"
    assert loud.headers["X-Accel-Buffering"] == "no"
    events = [event async for event in read_sse(loud)]
    assert all(event.id is None for event in events)  # not resumable on 2026
    assert events[0].json()["method"] == "notifications/message"
    assert events[-1].json()["result"]["resultType"] == "complete"


async def test_closing_the_connection_cancels_the_call(
    running: RunningService[None], events: dict[str, Any]
) -> None:
    async with aiohttp.ClientSession() as http:
        modern = client(http, running)
        call = asyncio.create_task(modern.post("tools/call", {"name": "slow"}))
        await asyncio.wait_for(events["started"].wait(), 5)
    call.cancel()  # the session (and its connection) closed under the request
    await asyncio.wait_for(events["cancelled"].wait(), 5)


async def test_get_and_delete_are_405_on_2026_but_origin_is_checked_first(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    modern = {"MCP-Protocol-Version": "2026-07-28", "Accept": "text/event-stream"}
    for method in ("GET", "DELETE"):
        response = await http.request(method, running.url, headers=modern)
        assert response.status == 405 and response.headers["Allow"] == "POST"
        evil = {**modern, "Origin": "http://evil.example.com"}
        assert (await http.request(method, running.url, headers=evil)).status == 403


async def test_listen_acknowledges_then_carries_the_changes_it_asked_for(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    modern = client(http, running)
    listen = await modern.post(
        "subscriptions/listen", {"notifications": {"toolsListChanged": True}}
    )
    listen_id = modern.next_id
    stream = read_sse(listen)
    ack = (await anext(stream)).json()
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"toolsListChanged": True}
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen_id
    await modern.call("tools/call", {"name": "change_tools"})
    change = (await asyncio.wait_for(anext(stream), 5)).json()
    assert change["method"] == "notifications/tools/list_changed"
    assert change["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen_id
    listen.close()


async def test_the_2025_session_wire_still_serves_the_same_endpoint(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    raw = RawClient(http, running.url)
    await raw.initialize()
    reply = await raw.call("tools/list")
    assert "resultType" not in reply["result"] and "ttlMs" not in reply["result"]
    assert (await raw.call("ping"))["result"] == {}
    modern = client(http, running)
    listed = (await modern.call("tools/list"))["result"]
    assert listed["resultType"] == "complete" and listed["cacheScope"] == "private"
    assert [t["name"] for t in listed["tools"]] == [t["name"] for t in reply["result"]["tools"]]
    gone = await modern.post("ping")
    assert gone.status == 404 and (await gone.json())["error"]["code"] == -32601


async def test_several_replicas_without_a_shared_key_ring_are_refused_at_start(
    events: dict[str, Any],
) -> None:
    with pytest.raises(SettingsError, match="MCPMESH_STATE_KEY_FILE"):
        create_app(build(events), bus=BusSettings(url="nats://127.0.0.1:1"), seal=SealSettings())


def test_an_x_mcp_header_on_an_object_stops_the_service_at_registration() -> None:
    service = Service("bad", version="1")
    schema = {
        "type": "object",
        "properties": {"filter": {"type": "object", "x-mcp-header": "Filter"}},
    }
    with pytest.raises(ValueError, match="only string, integer and boolean"):

        @service.tool(input_schema=schema)
        async def bad(ctx: Context, args: dict[str, Any]) -> str:
            return ""


async def test_discover_says_what_the_server_speaks(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    modern = client(http, running)
    result = (await modern.call("server/discover"))["result"]
    assert result["supportedVersions"][0] == "2026-07-28"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "wire"
    assert result["cacheScope"] == "public" and result["ttlMs"] > 0


async def test_resources_read_asks_through_input_required_too(
    http: aiohttp.ClientSession, running: RunningService[None]
) -> None:
    modern = client(http, running, elicitation={})
    first = (await modern.call("resources/read", {"uri": "note://todo"}))["result"]
    assert first["resultType"] == "input_required" and "ttlMs" not in first
    retry = {
        "uri": "note://todo",
        "inputResponses": {"text": {"action": "accept", "content": {"text": "buy milk"}}},
        "requestState": first["requestState"],
    }
    done = (await modern.call("resources/read", retry))["result"]
    assert done["resultType"] == "complete" and done["contents"][0]["text"] == "buy milk"
    missing = await modern.call("resources/read", {"uri": "nothing://here"})
    assert missing["error"]["code"] == -32602  # resource not found, 2026 code (SEP-2164)


async def test_the_2026_wire_has_the_same_nesting_limit_and_host_origin_guard(
    http: aiohttp.ClientSession, running: RunningService[None], events: dict[str, Any]
) -> None:
    """The stateless path starts after the shared checks: a body nested deeper than
    MCPMESH_MAX_JSON_DEPTH is a -32700 parse error, and Host/Origin are parsed strictly
    (userinfo is not "localhost"), before anything runs."""
    modern = client(http, running, elicitation={})
    deep: Any = "eu"
    for _ in range(100):
        deep = [deep]
    message = modern.message("tools/call", {"name": "delete_things", "arguments": {"x": deep}})
    headers = modern.headers_for(message)
    response = await http.post(running.url, data=msgspec.json.encode(message), headers=headers)
    body = await response.json()
    assert response.status == 400 and body["error"]["code"] == -32700, body
    assert "nest" in body["error"]["message"].lower(), body
    call = {"name": "chatty", "arguments": {}}
    for hostile in (
        {"Host": "localhost:1@evil.example"},
        {"Origin": "http://localhost@evil.example"},
    ):
        refused = await modern.post("tools/call", call, **hostile)
        assert refused.status == 403, (hostile, await refused.text())
    assert (await modern.call("tools/call", call))["result"]["content"][0]["text"] == "done"
    assert events["done"] == []
