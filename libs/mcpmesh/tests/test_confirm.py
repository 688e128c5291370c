"""Confirmation: only an explicit boolean ``true`` is a yes, the answer is checked against
the schema that was asked for, and every "not a yes" is the same library-owned result
(``isError: true``, "Not done: …"). Through the official Python SDK client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

from mcpmesh import Context, Service
from mcpmesh.config import ServerSettings
from mcpmesh.testing import serve_in_background


class Pick(msgspec.Struct):
    colour: str
    count: int | None = None


def confirming_service(done: list[str]) -> Service:
    service = Service("confirm-test", version="1.0.0", settings=ServerSettings())

    @service.tool(destructive=True)
    async def launch(ctx: Context) -> str:
        """Does something only after a yes."""
        await ctx.confirm("Launch?")
        done.append("launched")
        return "launched"

    @service.tool(read_only=True)
    async def pick(ctx: Context) -> str:
        """Asks for a form."""
        answer = await ctx.elicit("Pick one", Pick)
        return f"{answer.action} {answer.content}"

    return service


def answering(action: str, content: dict[str, Any] | None) -> Any:
    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


@contextlib.asynccontextmanager
async def client(done: list[str], elicit: Any) -> AsyncIterator[ClientSession]:
    async with (
        serve_in_background(confirming_service(done)) as running,
        streamable_http_client(running.url) as (read, write, *_),
        ClientSession(read, write, elicitation_callback=elicit) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_an_explicit_true_is_a_yes() -> None:
    done: list[str] = []
    async with client(done, answering("accept", {"confirm": True})) as session:
        result = await session.call_tool("launch", {})
    assert not result.is_error and done == ["launched"]


@pytest.mark.parametrize(
    ("action", "content", "says"),
    [
        ("accept", {"confirm": "false"}, 'not of type "boolean"'),
        ("accept", {"confirm": "true"}, 'not of type "boolean"'),
        ("accept", {"confirm": "no"}, 'not of type "boolean"'),
        ("accept", {"confirm": 1}, 'not of type "boolean"'),
        ("accept", {"confirm": False}, "did not tick"),
        ("accept", {}, '"confirm" is a required property'),
        ("accept", None, '"confirm" is a required property'),
        ("accept", {"confirm": None}, 'not of type "boolean"'),
        ("decline", {"confirm": True}, "declined"),
        ("decline", None, "declined"),
        ("cancel", None, "cancelled"),
    ],
)
async def test_anything_else_is_one_not_done_result(
    action: str, content: dict[str, Any] | None, says: str
) -> None:
    done: list[str] = []
    async with client(done, answering(action, content)) as session:
        result = await session.call_tool("launch", {})
        assert result.is_error is True, text_of(result)
        assert text_of(result).startswith("Not done: ") and says in text_of(result)
        assert "Nothing was changed." in text_of(result)
        assert done == []
        # The session keeps serving after a "no".
        assert (await session.list_tools()).tools


async def test_a_client_that_cannot_ask_cannot_confirm() -> None:
    done: list[str] = []
    async with client(done, None) as session:
        result = await session.call_tool("launch", {})
    assert result.is_error and "no elicitation capability" in text_of(result) and done == []


async def test_elicit_checks_the_answer_against_the_schema_asked_for() -> None:
    done: list[str] = []
    async with client(done, answering("accept", {"colour": "red", "count": 2})) as session:
        ok = await session.call_tool("pick", {})
        tools = {t.name for t in (await session.list_tools()).tools}
    assert not ok.is_error and text_of(ok) == "accept {'colour': 'red', 'count': 2}" and tools
    async with client(done, answering("accept", {"colour": 3})) as session:
        bad = await session.call_tool("pick", {})
    assert bad.is_error and "does not fit the form" in text_of(bad) and "colour" in text_of(bad)
    async with client(done, answering("decline", None)) as session:
        declined = await session.call_tool("pick", {})
    assert not declined.is_error and text_of(declined) == "decline None"
