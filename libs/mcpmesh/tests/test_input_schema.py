"""Input schemas every client can drive: an optional field is simply not required, with
its plain type (form-building clients such as the MCP Inspector cannot fill an
``anyOf: [{integer}, {null}]`` field)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import aiohttp
import msgspec
import pytest

from mcpmesh import Context, Service, registry
from mcpmesh.config import ServerSettings
from mcpmesh.server.schema import input_schema, object_schema
from mcpmesh.testing import RawClient, serve_in_background


class Window(msgspec.Struct, kw_only=True):
    start: int
    end: int | None = None


class Read(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    path: str
    head: Annotated[int, msgspec.Meta(ge=1, description="First N lines")] | None = None
    tags: list[str] | None = None
    order: Literal["asc", "desc"] | None = None
    key: str | int | None = None
    window: Window | None = None
    depth: int = 3


def nulls_in(schema: Any) -> list[str]:
    """Where a ``{"type": "null"}`` branch is left in a schema."""
    found: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "null":
                found.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(schema, "")
    return found


def test_optional_fields_have_their_plain_type() -> None:
    schema = input_schema(Read)
    props = schema["properties"]
    assert schema["required"] == ["path"]
    assert props["head"] == {"type": "integer", "minimum": 1, "description": "First N lines"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["order"] == {"enum": ["asc", "desc"]}
    assert props["key"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert props["window"] == {"$ref": "#/$defs/Window"}
    assert props["depth"] == {"type": "integer", "default": 3}
    assert schema["$defs"]["Window"]["properties"]["end"] == {"type": "integer"}
    assert nulls_in(schema) == []


def test_output_schemas_still_say_what_may_be_null() -> None:
    """Structured output holds ``null`` for an unset field; its schema must allow it."""
    assert {"type": "null"} in object_schema(Read)["properties"]["head"]["anyOf"]


def reader() -> Service:
    service = Service("schema-test", version="1.0.0")

    @service.tool(read_only=True)
    async def read(ctx: Context, args: Read) -> str:
        """Echoes what it was given."""
        return f"head={args.head} window={args.window}"

    return service


@pytest.fixture
async def raw() -> AsyncIterator[RawClient]:
    async with serve_in_background(reader()) as running, aiohttp.ClientSession() as http:
        client = RawClient(http, running.url)
        await client.initialize()
        yield client


async def call(raw: RawClient, arguments: dict[str, Any]) -> dict[str, Any]:
    body = await raw.call("tools/call", {"name": "read", "arguments": arguments})
    result: dict[str, Any] = body["result"]
    return result


async def test_a_client_can_give_omit_or_null_an_optional_field(raw: RawClient) -> None:
    tools = (await raw.call("tools/list", {}))["result"]["tools"]
    assert tools[0]["inputSchema"]["properties"]["head"]["type"] == "integer"
    given = await call(raw, {"path": "a", "head": 3, "window": {"start": 1}})
    assert given["content"][0]["text"] == "head=3 window=Window(start=1, end=None)"
    omitted = await call(raw, {"path": "a"})
    assert omitted["content"][0]["text"] == "head=None window=None"
    nulled = await call(raw, {"path": "a", "head": None})
    assert not nulled.get("isError") and nulled["content"][0]["text"].startswith("head=None")
    wrong = await call(raw, {"path": "a", "head": "3"})
    assert wrong["isError"] is True


@pytest.mark.parametrize("name", sorted(registry.available()))
def test_no_installed_service_asks_for_null(name: str) -> None:
    service = registry.load_factory(name)(ServerSettings())
    for tool_name, spec in service.tools.items():
        assert nulls_in(spec.tool.input_schema) == [], f"{name}.{tool_name}"
