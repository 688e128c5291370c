"""The official Python SDK client (PyPI ``mcp`` 2.x) against the fixture service:
every kind of request, sampling and elicitation callbacks, progress and log messages."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import ClientSession, types

from mcpmesh.config import ServerSettings
from mcpmesh.testing import RunningService, sdk_session, serve_in_background
from mcpmesh_fixture.service import create

# These tests use 2025-11-25 features that 2026-07-28 deprecates (logging,
# resources/subscribe) on purpose; the SDK's notices about that are expected.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
async def server() -> AsyncIterator[RunningService]:
    async with serve_in_background(create(ServerSettings(client_request_timeout=5))) as running:
        yield running


class Recorder:
    """Client-side callbacks that answer like a user would, and remember what they saw."""

    def __init__(self) -> None:
        self.sampling: list[types.CreateMessageRequestParams] = []
        self.elicitations: list[Any] = []
        self.logs: list[types.LoggingMessageNotificationParams] = []

    async def sample(
        self, context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.sampling.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="four"),
            model="double-model",
            stopReason="endTurn",
        )

    async def elicit(self, context: Any, params: Any) -> types.ElicitResult:
        self.elicitations.append(params)
        return types.ElicitResult(
            action="accept", content={"username": "ada", "email": "ada@example.com"}
        )

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)


@contextlib.asynccontextmanager
async def connect(server: RunningService) -> AsyncIterator[tuple[ClientSession, Recorder]]:
    """An initialized SDK session (a context manager, not a fixture: anyio cancel scopes
    must be entered and left in the same task)."""
    recorder = Recorder()
    async with sdk_session(
        server.url, sampling=recorder.sample, elicitation=recorder.elicit, logging=recorder.log
    ) as session:
        init = session.initialize_result
        assert init is not None
        assert init.server_info.name == "fixture"
        assert init.protocol_version == "2025-11-25"
        yield session, recorder


async def test_tools(server: RunningService) -> None:
    async with connect(server) as (session, _):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["test_simple_text"].annotations.read_only_hint is True
        assert (
            tools["json_schema_2020_12_tool"].input_schema["$defs"]["address"]["$anchor"]
            == "addressDef"
        )
        result = await session.call_tool("test_simple_text", {})
        assert result.content[0].text == "This is a simple text response for testing."
        image = (await session.call_tool("test_image_content", {})).content[0]
        assert base64.b64decode(image.data).startswith(b"\x89PNG")
        error = await session.call_tool("test_error_handling", {})
        assert error.is_error is True


async def test_progress_and_logging(server: RunningService) -> None:
    async with connect(server) as (session, recorder):
        seen: list[tuple[float, float | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total))

        await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        assert seen == [(0, 100), (50, 100), (100, 100)]
        await session.set_logging_level("debug")
        await session.call_tool("test_tool_with_logging", {})
        assert [log.data for log in recorder.logs] == [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]


async def test_sampling_and_elicitation_callbacks(server: RunningService) -> None:
    async with connect(server) as (session, recorder):
        result = await session.call_tool("test_sampling", {"prompt": "What is 2+2?"})
        assert result.content[0].text == "LLM response: four"
        assert recorder.sampling[0].max_tokens == 100
        assert recorder.sampling[0].messages[0].content.text == "What is 2+2?"
        answer = await session.call_tool("test_elicitation", {"message": "Who are you?"})
        assert "ada@example.com" in answer.content[0].text
        assert recorder.elicitations[0].message == "Who are you?"


async def test_resources(server: RunningService) -> None:
    async with connect(server) as (session, _):
        listed = {r.uri for r in (await session.list_resources()).resources}
        assert {"test://static-text", "test://static-binary", "test://watched-resource"} <= {
            str(u) for u in listed
        }
        templates = (await session.list_resource_templates()).resource_templates
        assert templates[0].uri_template == "test://template/{id}/data"
        read = await session.read_resource("test://template/42/data")
        assert '"id": "42"' in read.contents[0].text
        await session.subscribe_resource("test://watched-resource")
        await session.unsubscribe_resource("test://watched-resource")


async def test_prompts_and_completion(server: RunningService) -> None:
    async with connect(server) as (session, _):
        prompts = {p.name: p for p in (await session.list_prompts()).prompts}
        assert [a.name for a in prompts["test_prompt_with_arguments"].arguments] == ["arg1", "arg2"]
        got = await session.get_prompt("test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        assert "arg1='a'" in got.messages[0].content.text
        completion = await session.complete(
            types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"),
            {"name": "arg1", "value": "tes"},
        )
        assert completion.completion.values == ["test", "testing", "tested"]
