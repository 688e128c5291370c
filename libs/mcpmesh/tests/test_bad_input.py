"""Bad input, each answered with the spec's error while the server keeps serving."""

from __future__ import annotations

import json

import aiohttp
import pytest

from mcpmesh.testing import JSON_AND_SSE, RawClient, read_sse

PING = {"jsonrpc": "2.0", "id": 99, "method": "ping"}


async def assert_still_serving(raw: RawClient) -> None:
    assert (await raw.call("ping"))["result"] == {}


async def error_of(response: aiohttp.ClientResponse) -> dict:
    body = await response.json()
    assert body["jsonrpc"] == "2.0"
    assert body["id"] is None
    return body["error"]


async def test_malformed_json_is_a_parse_error(raw: RawClient) -> None:
    await raw.initialize()
    response = await raw.post(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert response.status == 400
    assert (await error_of(response))["code"] == -32700
    await assert_still_serving(raw)


@pytest.mark.parametrize(
    "body",
    [b'\xff\xfe{"jsonrpc":"2.0"}', b'{"jsonrpc":"2.0","id":1,"method":"p\xc3\x28ing"}'],
    ids=["invalid-utf8-outside-string", "invalid-utf8-inside-string"],
)
async def test_invalid_utf8_is_a_parse_error(raw: RawClient, body: bytes) -> None:
    await raw.initialize()
    response = await raw.post(body)
    assert response.status == 400
    assert (await error_of(response))["code"] == -32700
    await assert_still_serving(raw)


@pytest.mark.parametrize(
    "body",
    [
        {"id": 1, "method": "ping"},
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1.5, "method": "ping"},
        {"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": 7},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "x"}},
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "result": {}},
        "just a string",
        42,
    ],
)
async def test_wrong_jsonrpc_shapes_are_invalid_requests(raw: RawClient, body: object) -> None:
    await raw.initialize()
    response = await raw.post(body)
    assert response.status == 400
    assert (await error_of(response))["code"] == -32600
    await assert_still_serving(raw)


async def test_unknown_method_is_method_not_found(raw: RawClient) -> None:
    await raw.initialize()
    body = await raw.call("tools/frobnicate", {})
    assert body["id"] == raw.next_id
    assert body["error"]["code"] == -32601
    await assert_still_serving(raw)


async def test_invalid_params_are_invalid_params(raw: RawClient) -> None:
    await raw.initialize()
    assert (await raw.call("logging/setLevel", {"level": "loud"}))["error"]["code"] == -32602
    assert (await raw.call("tools/call", {"arguments": {}}))["error"]["code"] == -32602
    assert (await raw.call("tools/call", {"name": "no_such_tool"}))["error"]["code"] == -32602
    assert (await raw.call("prompts/get", {"name": "no_such_prompt"}))["error"]["code"] == -32602
    await assert_still_serving(raw)


@pytest.mark.parametrize("body", [[PING], [PING, PING], []], ids=["one", "two", "empty"])
async def test_batches_are_refused(raw: RawClient, body: list) -> None:
    await raw.initialize()
    response = await raw.post(body)
    assert response.status == 400
    error = await error_of(response)
    assert error["code"] == -32600
    assert "batch" in error["message"].lower()
    await assert_still_serving(raw)


async def test_oversized_body_is_413(raw: RawClient) -> None:
    await raw.initialize()
    big = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 70_000}}
    response = await raw.post(big)
    assert response.status == 413
    await assert_still_serving(raw)


async def test_oversized_chunked_body_is_413(raw: RawClient) -> None:
    await raw.initialize()

    async def chunks():
        yield b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}}'

    response = await raw.http.post(raw.url, data=chunks(), headers=raw.headers())
    assert response.status == 413
    await assert_still_serving(raw)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_wrong_content_type_is_415(raw: RawClient, content_type: str) -> None:
    await raw.initialize()
    response = await raw.post(PING, **{"Content-Type": content_type})
    assert response.status == 415
    await assert_still_serving(raw)


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream", "text/html", ""])
async def test_wrong_accept_is_406(raw: RawClient, accept: str) -> None:
    await raw.initialize()
    response = await raw.post(PING, Accept=accept)
    assert response.status == 406
    await assert_still_serving(raw)


async def test_get_without_event_stream_accept_is_406(raw: RawClient) -> None:
    await raw.initialize()
    response = await raw.http.get(raw.url, headers=raw.headers(Accept="application/json"))
    assert response.status == 406


async def test_response_for_unknown_request_id_is_refused(raw: RawClient) -> None:
    await raw.initialize()
    response = await raw.post({"jsonrpc": "2.0", "id": "nobody-asked", "result": {}})
    assert response.status == 400
    error = await error_of(response)
    assert error["code"] == -32600
    assert "nobody-asked" in error["message"]
    await assert_still_serving(raw)


@pytest.mark.parametrize(
    "last_event_id",
    ["garbage", "p999.1", "g.", ".5", "p1.-1", "p1.99999999999999999999"],
)
async def test_get_with_bogus_last_event_id_is_400(raw: RawClient, last_event_id: str) -> None:
    await raw.initialize()
    headers = raw.headers(Accept="text/event-stream", **{"Last-Event-ID": last_event_id})
    response = await raw.http.get(raw.url, headers=headers)
    assert response.status == 400
    assert "Last-Event-ID" in (await error_of(response))["message"]
    await assert_still_serving(raw)


async def test_missing_session_id_is_400(raw: RawClient) -> None:
    response = await raw.post(PING)
    assert response.status == 400
    assert "Mcp-Session-Id" in (await error_of(response))["message"]


async def test_unknown_session_id_is_404(raw: RawClient) -> None:
    response = await raw.post(PING, **{"Mcp-Session-Id": "not-a-session"})
    assert response.status == 404


async def test_unsupported_protocol_version_header_is_400(raw: RawClient) -> None:
    await raw.initialize()
    response = await raw.post(PING, **{"MCP-Protocol-Version": "1999-01-01"})
    assert response.status == 400
    # Not a session-era revision, so the 2026 rules answer: -32022 with the request's id
    # and what we speak.
    body = await response.json()
    assert body["id"] == PING["id"] and body["error"]["code"] == -32022
    assert body["error"]["data"]["requested"] == "1999-01-01"
    assert "2025-11-25" in body["error"]["data"]["supported"]
    response = await raw.post(PING, **{"MCP-Protocol-Version": "2025-06-18"})
    assert response.status == 200


async def test_initialize_with_bad_params_creates_no_session(raw: RawClient) -> None:
    response = await raw.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}})
    assert response.status == 200
    assert "Mcp-Session-Id" not in response.headers
    assert (await response.json())["error"]["code"] == -32602


async def test_initialize_as_notification_is_refused(raw: RawClient) -> None:
    response = await raw.post({"jsonrpc": "2.0", "method": "initialize", "params": {}})
    assert response.status == 400


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("evil.example.com", None),
        ("localhost", "http://evil.example.com"),
        ("localhost", "null"),
        ("127.0.0.1.evil.example.com", None),
        # Lenient splitting read these as "localhost" / "[::1]": a strict grammar refuses.
        ("localhost:1@evil.com", None),
        ("[::1]evil.com", None),
        ("[::1]:80:80", None),
        ("localhost:80x", None),
        ("localhost", "http://localhost:1@evil.com"),
        ("localhost", "http://user@localhost"),
        ("localhost", "http://[::1]evil.com"),
        ("localhost", "http://localhost/path"),
        ("localhost", "http://localhost:99999999"),
    ],
)
async def test_dns_rebinding_is_403(raw: RawClient, host: str, origin: str | None) -> None:
    extra = {"Host": host}
    if origin is not None:
        extra["Origin"] = origin
    response = await raw.http.post(
        raw.url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}',
        headers={**JSON_AND_SSE, **extra},
    )
    assert response.status == 403
    assert "Mcp-Session-Id" not in response.headers


@pytest.mark.parametrize(
    ("host", "origin"),
    [("localhost:8080", None), ("[::1]:80", "http://[::1]:80"), ("LOCALHOST", "HTTP://LocalHost/")],
)
async def test_well_formed_local_hosts_are_allowed(
    raw: RawClient, host: str, origin: str | None
) -> None:
    extra = {"Host": host} | ({"Origin": origin} if origin else {})
    response = await raw.http.post(
        raw.url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
        headers={**JSON_AND_SSE, **extra},
    )
    assert response.status == 400  # past the guard: no session header yet
    assert "Mcp-Session-Id" in (await response.text())


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [65, 1_000, 30_000])
@pytest.mark.parametrize("where", ["params", "arguments"])
async def test_deep_nesting_is_a_parse_error(raw: RawClient, depth: int, where: str) -> None:
    """Past MCPMESH_MAX_JSON_DEPTH (64) the body is refused before msgspec recurses
    (about 1,000 levels used to be HTTP 500 with a traceback)."""
    await raw.initialize()
    nested = _nested(depth)
    if where == "params":
        body = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + nested + b"}}"
    else:
        body = (
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":'
            b'{"name":"test_simple_text","arguments":{"x":' + nested + b"}}}"
        )
    response = await raw.post(body)
    assert response.status == 400
    error = await error_of(response)
    assert error["code"] == -32700 and "nested deeper than 64" in error["message"]
    await assert_still_serving(raw)


async def test_nesting_within_the_limit_and_brackets_in_strings_pass(raw: RawClient) -> None:
    await raw.initialize()
    inside = "[" * 5000  # brackets in a string are not nesting
    within = json.loads(_nested(60))
    body = await raw.call("ping", {"_meta": {"s": inside, "n": within}})
    assert body["result"] == {}


async def test_localhost_origins_are_allowed(raw: RawClient) -> None:
    port = raw.url.split(":")[2].split("/")[0]
    result = await raw.http.post(
        raw.url,
        data=b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}',
        headers={**JSON_AND_SSE, "Origin": f"http://localhost:{port}"},
    )
    assert result.status == 200


async def test_reused_request_id_while_running_is_refused(raw: RawClient) -> None:
    """Two in-flight requests with one id would make responses ambiguous."""
    await raw.initialize()
    slow = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "test_tool_with_logging"},
    }
    # Its first log message turns the answer into an SSE stream: the call is running.
    first = await raw.post(slow)
    assert first.status == 200 and first.content_type == "text/event-stream"
    second = await raw.post(slow)
    assert (await second.json())["error"]["code"] == -32600
    answers = [event.json() async for event in read_sse(first) if event.data]
    assert answers[-1]["id"] == 7 and "result" in answers[-1]
