"""SSE behaviour: when a POST turns into a stream, server→client requests, cancellation,
logging levels, the GET stream, resumption with Last-Event-ID, session end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest

from mcpmesh import Context, Service, ToolError
from mcpmesh.config import ServerSettings
from mcpmesh.testing import RawClient, RunningService, SseEvent, read_sse, serve_in_background


class Seconds(msgspec.Struct):
    seconds: float


def build_service(started: asyncio.Event) -> Service:
    service = Service(
        "streams-test",
        version="0",
        settings=ServerSettings(client_request_timeout=0.5, sse_retry_ms=250),
    )

    @service.tool()
    async def sleepy(ctx: Context, args: Seconds) -> str:
        """Sleeps, to be cancelled."""
        started.set()
        await asyncio.sleep(args.seconds)
        return "woke up"

    @service.tool()
    async def chatty(ctx: Context) -> str:
        """Logs at every level."""
        for level in ("debug", "info", "warning", "error"):
            await ctx.log(level, f"{level} message")
        return "done"

    @service.tool()
    async def ask_model(ctx: Context) -> str:
        """Samples the client's model."""
        reply = await ctx.sample("Say hi", max_tokens=10)
        return f"model said {reply.text} ({reply.model})"

    @service.tool()
    async def ask_user(ctx: Context) -> str:
        """Asks for confirmation."""
        await ctx.confirm("Proceed?")  # anything but a yes ends the call with "Not done"
        return "confirmed"

    @service.tool()
    async def roots(ctx: Context) -> str:
        """Lists the client's roots."""
        return ",".join(root.uri for root in await ctx.list_roots())

    @service.tool()
    async def change_lists(ctx: Context) -> str:
        """Announces a tools list change and a resource update."""
        await service.notify_list_changed("tools")
        await service.notify_resource_updated("test://r")
        return "announced"

    @service.tool()
    async def fails(ctx: Context) -> str:
        """Fails as a tool."""
        raise ToolError("Nope: set MCPMESH_X and try again")

    @service.tool()
    async def crashes(ctx: Context) -> str:
        """Fails unexpectedly."""
        raise RuntimeError("secret internal detail")

    @service.resource("test://r", name="r")
    async def resource(ctx: Context) -> str:
        return "r"

    return service


@pytest.fixture
def started() -> asyncio.Event:
    """Set when the ``sleepy`` tool begins, so a test can cancel it mid-run."""
    return asyncio.Event()


@pytest.fixture
async def server(started: asyncio.Event) -> AsyncIterator[RunningService]:
    async with serve_in_background(build_service(started)) as running:
        yield running


@pytest.fixture
async def raw(server: RunningService) -> AsyncIterator[RawClient]:
    async with aiohttp.ClientSession() as http:
        yield RawClient(http, server.url)


def call(request_id: int, name: str, arguments: dict | None = None, **meta: object) -> dict:
    params: dict = {"name": name, "arguments": arguments or {}}
    if meta:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def events(response: aiohttp.ClientResponse) -> list[SseEvent]:
    assert response.content_type == "text/event-stream"
    return [event async for event in read_sse(response)]


async def test_plain_call_is_answered_as_json(raw: RawClient) -> None:
    await raw.initialize()
    response = await raw.post(call(1, "chatty"))  # default level info: debug filtered...
    assert response.content_type == "text/event-stream"  # ...but info+ are sent, so SSE
    response = await raw.post(call(2, "fails"))
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["result"] == {
        "content": [{"type": "text", "text": "Nope: set MCPMESH_X and try again"}],
        "isError": True,
    }


async def test_unexpected_exception_hides_details(raw: RawClient) -> None:
    await raw.initialize()
    body = await (await raw.post(call(1, "crashes"))).json()
    assert body["result"]["isError"] is True
    assert "secret internal detail" not in body["result"]["content"][0]["text"]


async def test_log_level_filters_messages(raw: RawClient) -> None:
    await raw.initialize()
    assert (await raw.call("logging/setLevel", {"level": "warning"}))["result"] == {}
    received = await events(await raw.post(call(1, "chatty")))
    priming, *messages, final = received
    assert priming.data == "" and priming.id and priming.retry == 250
    levels = [m.json()["params"]["level"] for m in messages]
    assert levels == ["warning", "error"]
    assert final.json()["result"]["content"][0]["text"] == "done"
    ids = [e.id for e in received]
    assert len(set(ids)) == len(ids)


async def test_sampling_round_trip(raw: RawClient) -> None:
    await raw.initialize({"sampling": {}})
    response = await raw.post(call(1, "ask_model"))
    stream = read_sse(response)
    await anext(stream)  # priming
    request = (await anext(stream)).json()
    assert request["method"] == "sampling/createMessage"
    assert request["params"]["maxTokens"] == 10
    answer = {
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {"role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m1"},
    }
    assert (await raw.post(answer)).status == 202
    final = (await anext(stream)).json()
    assert final["result"]["content"][0]["text"] == "model said hi (m1)"


async def test_client_error_reply_becomes_tool_error(raw: RawClient) -> None:
    await raw.initialize({"sampling": {}})
    stream = read_sse(await raw.post(call(1, "ask_model")))
    await anext(stream)
    request = (await anext(stream)).json()
    refusal = {
        "jsonrpc": "2.0",
        "id": request["id"],
        "error": {"code": -1, "message": "User rejected"},
    }
    assert (await raw.post(refusal)).status == 202
    result = (await anext(stream)).json()["result"]
    assert result["isError"] is True
    assert "User rejected" in result["content"][0]["text"]


async def test_missing_capability_is_a_clear_tool_error(raw: RawClient) -> None:
    await raw.initialize({})
    for tool, word in (("ask_model", "sampling"), ("ask_user", "elicitation"), ("roots", "roots")):
        body = await (await raw.post(call(1, tool))).json()
        assert body["result"]["isError"] is True, tool
        assert word in body["result"]["content"][0]["text"]


async def test_unanswered_request_times_out_and_is_cancelled(raw: RawClient) -> None:
    await raw.initialize({"elicitation": {}})
    received = await events(await raw.post(call(1, "ask_user")))
    methods = [e.json().get("method") for e in received[1:]]
    assert methods[:2] == ["elicitation/create", "notifications/cancelled"]
    result = received[-1].json()["result"]
    assert result["isError"] is True
    assert "did not answer" in result["content"][0]["text"]
    # A late answer is refused: nobody waits for it any more.
    late = {"jsonrpc": "2.0", "id": received[1].json()["id"], "result": {"action": "accept"}}
    assert (await raw.post(late)).status == 400


async def test_confirmation_declined(raw: RawClient) -> None:
    await raw.initialize({"elicitation": {}})
    stream = read_sse(await raw.post(call(1, "ask_user")))
    await anext(stream)
    request = (await anext(stream)).json()
    assert request["params"]["requestedSchema"]["properties"]["confirm"]["type"] == "boolean"
    await raw.post({"jsonrpc": "2.0", "id": request["id"], "result": {"action": "decline"}})
    result = (await anext(stream)).json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("Not done: the user declined")


async def test_roots(raw: RawClient) -> None:
    await raw.initialize({"roots": {"listChanged": True}})
    stream = read_sse(await raw.post(call(1, "roots")))
    await anext(stream)
    request = (await anext(stream)).json()
    assert request["method"] == "roots/list"
    roots = {"roots": [{"uri": "file:///a"}, {"uri": "file:///b", "name": "b"}]}
    await raw.post({"jsonrpc": "2.0", "id": request["id"], "result": roots})
    assert (await anext(stream)).json()["result"]["content"][0]["text"] == "file:///a,file:///b"


async def test_cancellation_stops_the_handler(
    raw: RawClient, server: RunningService, started: asyncio.Event
) -> None:
    await raw.initialize()
    pending = asyncio.ensure_future(raw.post(call(5, "sleepy", {"seconds": 30})))
    await asyncio.wait_for(started.wait(), 5)
    runtime = next(iter(server.endpoint.runtimes.values()))
    assert 5 in runtime.inflight
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}}
    assert (await raw.post(cancel)).status == 202
    response = await asyncio.wait_for(pending, 5)
    assert (await response.json())["error"]["code"] == -32800
    assert 5 not in runtime.inflight
    assert (await raw.call("ping"))["result"] == {}


async def test_progress_only_with_token(raw: RawClient) -> None:
    from mcpmesh_fixture.service import create

    async with serve_in_background(create()) as fixture, aiohttp.ClientSession() as http:
        client = RawClient(http, fixture.url)
        await client.initialize()
        plain = await client.post(call(1, "test_tool_with_progress"))
        assert plain.content_type == "application/json"
        streamed = await events(
            await client.post(call(2, "test_tool_with_progress", progressToken="t"))
        )
        progress = [e.json()["params"] for e in streamed[1:-1]]
        assert [p["progress"] for p in progress] == [0, 50, 100]
        assert {p["progressToken"] for p in progress} == {"t"}


async def test_get_stream_carries_session_notifications(raw: RawClient) -> None:
    await raw.initialize()
    assert (await raw.call("resources/subscribe", {"uri": "test://r"}))["result"] == {}
    get = await raw.http.get(raw.url, headers=raw.headers(Accept="text/event-stream"))
    assert get.status == 200
    stream = read_sse(get)
    assert (await anext(stream)).data == ""  # priming
    second = await raw.http.get(raw.url, headers=raw.headers(Accept="text/event-stream"))
    assert second.status == 409
    assert (await raw.call("tools/call", {"name": "change_lists"}))["result"]
    methods = [(await anext(stream)).json()["method"] for _ in range(2)]
    assert methods == ["notifications/tools/list_changed", "notifications/resources/updated"]
    get.close()


async def test_resume_post_stream_after_disconnect(raw: RawClient) -> None:
    """A client that loses a POST stream gets the rest with GET + Last-Event-ID."""
    await raw.initialize({"sampling": {}})
    response = await raw.post(call(1, "ask_model"))
    stream = read_sse(response)
    await anext(stream)
    request_event = await anext(stream)
    response.close()  # connection lost mid-call
    request = request_event.json()
    answer = {
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {"role": "assistant", "content": {"type": "text", "text": "yo"}, "model": "m"},
    }
    assert (await raw.post(answer)).status == 202
    resumed = await raw.http.get(
        raw.url,
        headers=raw.headers(Accept="text/event-stream", **{"Last-Event-ID": request_event.id}),
    )
    assert resumed.status == 200
    replay = await events(resumed)
    assert [e.json()["result"]["content"][0]["text"] for e in replay] == ["model said yo (m)"]
    assert replay[0].id.split(".")[0] == request_event.id.split(".")[0]


async def test_delete_ends_session_and_its_work(
    raw: RawClient, server: RunningService, started: asyncio.Event
) -> None:
    await raw.initialize()
    pending = asyncio.ensure_future(raw.post(call(1, "sleepy", {"seconds": 30})))
    await asyncio.wait_for(started.wait(), 5)
    deleted = await raw.http.delete(raw.url, headers=raw.headers())
    assert deleted.status == 204
    await asyncio.wait_for(pending, 5)
    assert (await raw.post({"jsonrpc": "2.0", "id": 2, "method": "ping"})).status == 404
    assert (await raw.http.delete(raw.url, headers=raw.headers())).status == 404
    assert not server.endpoint.runtimes


async def test_idle_sessions_are_swept(raw: RawClient, server: RunningService) -> None:
    await raw.initialize()
    endpoint = server.endpoint
    runtime = next(iter(endpoint.runtimes.values()))
    runtime.last_seen -= endpoint.settings.session_idle_timeout + 1
    await endpoint.sweep_idle()
    assert (await raw.post({"jsonrpc": "2.0", "id": 2, "method": "ping"})).status == 404


async def test_log_messages_to_the_client_are_redacted() -> None:
    """A handler that logs a token by mistake does not hand it to the client."""
    from mcpmesh.guard.redaction import REDACTED

    service = Service("leaky", version="0")
    token = "ghp_" + "A1b2C3" * 6

    @service.tool()
    async def leaky(ctx: Context) -> str:
        await ctx.warning({"note": f"using {token}"})
        await ctx.progress(1, 2, f"authenticated with {token}")
        return "done"

    async with serve_in_background(service) as running, aiohttp.ClientSession() as http:
        raw = RawClient(http, running.url)
        await raw.initialize()
        response = await raw.post(call(1, "leaky", progressToken="p"))
        received = await events(response)
        text = "".join(event.data for event in received)
        assert token not in text
        assert REDACTED in received[1].json()["params"]["data"]["note"]
        assert REDACTED in received[2].json()["params"]["message"]
