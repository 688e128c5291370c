"""The service framework: schemas from types, validation as isError, structured output,
pagination cursors, version shaping, settings from the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import aiohttp
import msgspec
import pytest

from mcpmesh import Context, Service, ToolResult
from mcpmesh.config import ServerSettings, SettingsError, load_settings
from mcpmesh.testing import RawClient, read_sse, serve_in_background


class Search(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, description="What to look for")]
    max_results: Annotated[int, msgspec.Meta(ge=1, le=50)] = 10


class Hit(msgspec.Struct):
    title: str
    score: float


class Hits(msgspec.Struct):
    hits: list[Hit]
    total: int


class Greeting(msgspec.Struct):
    name: str
    mood: str = "cheerful"


def build_service(page_size: int = 500) -> Service:
    service = Service(
        "framework-test", version="1.2.3", settings=ServerSettings(page_size=page_size)
    )

    @service.tool(read_only=True, idempotent=True, open_world=False)
    async def search(ctx: Context, args: Search) -> Hits:
        """Searches the catalogue."""
        hits = [Hit(title=f"{args.query} {i}", score=1 / (i + 1)) for i in range(args.max_results)]
        return Hits(hits=hits, total=len(hits))

    @service.tool(destructive=False)
    async def annotate(ctx: Context) -> ToolResult:
        """Returns both text and structured content."""
        return ToolResult.text("ok", structured={"ok": True})

    for index in range(7):

        @service.tool(name=f"extra_{index}", read_only=True)
        async def extra(ctx: Context) -> str:
            """One of several tools, to page through."""
            return "extra"

    @service.prompt(description="Greets someone")
    async def greet(ctx: Context, args: Greeting) -> str:
        return f"Hello {args.name}, you seem {args.mood}"

    return service


@pytest.fixture
async def raw() -> AsyncIterator[RawClient]:
    async with (
        serve_in_background(build_service(page_size=4)) as running,
        aiohttp.ClientSession() as http,
    ):
        yield RawClient(http, running.url)


def tool_named(tools: list[dict], name: str) -> dict:
    return next(tool for tool in tools if tool["name"] == name)


async def list_all_tools(raw: RawClient) -> list[dict]:
    tools, cursor, pages = [], None, 0
    while True:
        body = await raw.call("tools/list", {"cursor": cursor} if cursor else {})
        tools += body["result"]["tools"]
        pages += 1
        cursor = body["result"].get("nextCursor")
        if cursor is None:
            return tools


async def test_schemas_come_from_types(raw: RawClient) -> None:
    await raw.initialize()
    search = tool_named(await list_all_tools(raw), "search")
    assert search["description"] == "Searches the catalogue."
    schema = search["inputSchema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["query"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["query"] == {
        "type": "string",
        "minLength": 1,
        "description": "What to look for",
    }
    assert schema["properties"]["maxResults"]["maximum"] == 50
    assert search["outputSchema"]["properties"]["hits"]["type"] == "array"
    assert search["annotations"] == {
        "readOnlyHint": True,
        "idempotentHint": True,
        "openWorldHint": False,
    }
    annotate = tool_named(await list_all_tools(raw), "annotate")
    assert annotate["inputSchema"] == {"type": "object", "additionalProperties": False}
    assert annotate["annotations"]["destructiveHint"] is False


async def test_structured_content_matches_output_schema(raw: RawClient) -> None:
    await raw.initialize()
    result = (
        await raw.call(
            "tools/call", {"name": "search", "arguments": {"query": "q", "maxResults": 2}}
        )
    )["result"]
    assert result["structuredContent"] == {
        "hits": [{"title": "q 0", "score": 1.0}, {"title": "q 1", "score": 0.5}],
        "total": 2,
    }
    assert msgspec.json.decode(result["content"][0]["text"]) == result["structuredContent"]


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({}, "missing required field `query`"),
        ({"query": ""}, "length >= 1"),
        ({"query": "q", "maxResults": 500}, "<= 50"),
        ({"query": "q", "maxResults": "ten"}, "Expected `int`, got `str`"),
        ({"query": "q", "colour": "red"}, "unknown field `colour`"),
    ],
)
async def test_invalid_arguments_are_tool_errors(
    raw: RawClient, arguments: dict, complaint: str
) -> None:
    await raw.initialize()
    result = (await raw.call("tools/call", {"name": "search", "arguments": arguments}))["result"]
    assert result["isError"] is True
    assert complaint in result["content"][0]["text"]
    assert "search" in result["content"][0]["text"]


async def test_missing_or_null_arguments_mean_none(raw: RawClient) -> None:
    await raw.initialize()
    for params in ({"name": "annotate"}, {"name": "annotate", "arguments": None}):
        result = (await raw.call("tools/call", params))["result"]
        assert result == {
            "content": [{"type": "text", "text": "ok"}],
            "structuredContent": {"ok": True},
        }


async def test_pagination_walks_every_tool_once(raw: RawClient) -> None:
    await raw.initialize()
    names = [tool["name"] for tool in await list_all_tools(raw)]
    assert len(names) == len(set(names)) == 9


@pytest.mark.parametrize(
    "cursor", ["not-base64!", "dG9vbHM6OTk5", "cHJvbXB0czow", "dG9vbHM6LTE", ""]
)
async def test_bad_cursor_is_invalid_params(raw: RawClient, cursor: str) -> None:
    """Garbage, past the end (tools:999), another list's (prompts:0), negative, empty."""
    await raw.initialize()
    body = await raw.call("tools/list", {"cursor": cursor})
    assert body["error"]["code"] == -32602, body
    assert "Invalid cursor" in body["error"]["message"]


async def test_prompt_arguments_and_validation(raw: RawClient) -> None:
    await raw.initialize()
    prompt = (await raw.call("prompts/list"))["result"]["prompts"][0]
    assert prompt["arguments"] == [
        {"name": "name", "required": True},
        {"name": "mood", "required": False},
    ]
    got = (await raw.call("prompts/get", {"name": "greet", "arguments": {"name": "Ada"}}))["result"]
    assert got["messages"][0]["content"]["text"] == "Hello Ada, you seem cheerful"
    missing = await raw.call("prompts/get", {"name": "greet", "arguments": {}})
    assert missing["error"]["code"] == -32602


async def test_old_protocol_versions_get_their_own_wire(raw: RawClient) -> None:
    init = await raw.initialize(version="2025-03-26")
    assert init["protocolVersion"] == "2025-03-26"
    search = tool_named(await list_all_tools(raw), "search")
    assert "outputSchema" not in search
    result = (
        await raw.call(
            "tools/call", {"name": "search", "arguments": {"query": "q", "maxResults": 1}}
        )
    )["result"]
    assert "structuredContent" not in result
    assert result["content"][0]["type"] == "text"


async def test_unknown_version_gets_our_latest(raw: RawClient) -> None:
    init = await raw.initialize(version="2099-01-01")
    assert init["protocolVersion"] == "2025-11-25"
    assert init["serverInfo"] == {"name": "framework-test", "version": "1.2.3"}


async def test_no_priming_event_before_2025_11_25() -> None:
    """Clients of older revisions would choke on an SSE event with empty data."""
    from mcpmesh_fixture.service import create

    async with serve_in_background(create()) as running, aiohttp.ClientSession() as http:
        raw = RawClient(http, running.url)
        await raw.initialize(version="2025-06-18")
        response = await raw.post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "test_tool_with_progress", "_meta": {"progressToken": 1}},
            }
        )
        events = [event async for event in read_sse(response)]
        assert all(event.data for event in events)
        assert len(events) == 4


def test_settings_from_environment() -> None:
    env = {
        "MCPMESH_PORT": "8123",
        "MCPMESH_ALLOWED_HOSTS": "mcp.example.com, gateway",
        "MCPMESH_ALLOWED_ORIGINS": '["https://app.example.com"]',
        "MCPMESH_LOG_JSON": "false",
    }
    settings = load_settings(ServerSettings, env=env, host="0.0.0.0")
    assert settings.port == 8123
    assert settings.allowed_hosts == ["mcp.example.com", "gateway"]
    assert settings.allowed_origins == ["https://app.example.com"]
    assert settings.log_json is False
    assert settings.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MCPMESH_PORT": "eighty"}, "MCPMESH_PORT"),
        ({"MCPMESH_ALLOWED_ORIGINS": "[oops"}, "MCPMESH_ALLOWED_ORIGINS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(ServerSettings, env=env)


def test_handler_types_are_checked_at_registration() -> None:
    service = Service("bad", version="0")
    with pytest.raises(TypeError, match="annotate the arguments"):

        @service.tool()
        async def untyped(ctx, args):  # type: ignore[no-untyped-def]
            return "x"

    with pytest.raises(ValueError, match="already registered"):

        @service.tool(name="dup")
        async def one(ctx: Context) -> str:
            return "1"

        @service.tool(name="dup")
        async def two(ctx: Context) -> str:
            return "2"


async def test_health_endpoints() -> None:
    service = build_service()
    problems = {"backend": "down for maintenance"}

    @service.readiness("backend")
    async def backend_check(state: None) -> str | None:
        return problems.get("backend")

    async with serve_in_background(service) as running, aiohttp.ClientSession() as http:
        assert (await http.get(running.base + "/healthz")).status == 200
        not_ready = await http.get(running.base + "/readyz")
        assert not_ready.status == 503
        assert (await not_ready.json())["problems"] == {"backend": "down for maintenance"}
        problems.clear()
        assert (await http.get(running.base + "/readyz")).status == 200


async def test_result_types_are_not_output_schemas_and_resource_errors_are_clear() -> None:
    service = Service("result-types", version="0")

    @service.tool()
    async def full(ctx: Context) -> ToolResult:
        return ToolResult.text("ok")

    @service.resource("test://broken")
    async def broken(ctx: Context) -> str:
        from mcpmesh import ToolError

        raise ToolError("The backing store is offline; try again in a minute")

    async with serve_in_background(service) as running, aiohttp.ClientSession() as http:
        raw = RawClient(http, running.url)
        await raw.initialize()
        tool = (await raw.call("tools/list"))["result"]["tools"][0]
        assert "outputSchema" not in tool
        error = (await raw.call("resources/read", {"uri": "test://broken"}))["error"]
        assert error == {
            "code": -32603,
            "message": "The backing store is offline; try again in a minute",
        }
