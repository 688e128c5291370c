"""The official Python SDK (PyPI ``mcp`` 2.3.0, which speaks 2026-07-28) against the
fixture service on the stateless wire: it finds the wire through ``server/discover``,
and answers multi round-trip requests with its own callbacks."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import types

from mcpmesh.config import ServerSettings
from mcpmesh.testing import RunningService, sdk_client, serve_in_background, text_of
from mcpmesh_fixture.service import create

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
async def server() -> AsyncIterator[RunningService]:
    async with serve_in_background(create(ServerSettings(client_request_timeout=5))) as running:
        yield running


class User:
    """Answers like a user and a model would, and remembers the questions."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def elicit(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params.message)
        return types.ElicitResult(
            action="accept", content={"name": "Ada", "color": "teal", "context": "tests"}
        )

    async def sample(self, context: Any, params: Any) -> types.CreateMessageResult:
        self.asked.append("sampling")
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="Paris"),
            model="double-model",
            stopReason="endTurn",
        )

    async def roots(self, context: Any) -> types.ListRootsResult:
        self.asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///srv/data", name="data")])


async def test_discovery_lists_and_plain_calls(server: RunningService) -> None:
    async with sdk_client(server.url) as client:
        assert client.server_info is not None and client.server_info.name == "fixture"
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert "test_input_required_result_elicitation" in names
        text = text_of(await client.call_tool("test_simple_text", {}))
        assert text == "This is a simple text response for testing."
        read = await client.read_resource("test://static-text")
        assert read.contents[0].text == "This is the content of the static text resource."  # type: ignore[union-attr]
        prompts = [prompt.name for prompt in (await client.list_prompts()).prompts]
        assert "test_input_required_result_prompt" in prompts


async def test_the_sdk_answers_every_kind_of_question_in_one_round(server: RunningService) -> None:
    user = User()
    async with sdk_client(
        server.url, elicitation=user.elicit, sampling=user.sample, roots=user.roots
    ) as client:
        result = await client.call_tool("test_input_required_result_multiple_inputs", {})
        assert text_of(result) == "Paris Ada (roots: 1)"
        assert sorted(user.asked) == ["What is your name?", "roots", "sampling"]


async def test_two_rounds_and_a_prompt(server: RunningService) -> None:
    user = User()
    async with sdk_client(server.url, elicitation=user.elicit) as client:
        result = await client.call_tool("test_input_required_result_multi_round", {})
        assert text_of(result) == "Ada likes teal"
        assert user.asked == ["Step 1: What is your name?", "Step 2: What is your favorite color?"]
        prompt = await client.get_prompt("test_input_required_result_prompt")
        assert prompt.messages[0].content.text == "Use this context: tests"  # type: ignore[union-attr]


async def test_the_sdk_sends_the_parameter_header_the_tool_declares(server: RunningService) -> None:
    async with sdk_client(server.url) as client:
        result = await client.call_tool("test_custom_header", {"region": "eu-west", "query": "q"})
        assert text_of(result) == "region=eu-west query=q"


async def test_no_log_messages_unless_asked(server: RunningService) -> None:
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    from mcp import Client

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        async with Client(server.url, logging_callback=on_log) as client:
            await client.call_tool("test_logging_tool", {})
            assert logs == []
        async with Client(server.url, logging_callback=on_log, log_level="info") as client:
            await client.call_tool("test_logging_tool", {})
    assert [entry.data for entry in logs] == ["Tool execution started", "Tool execution completed"]
