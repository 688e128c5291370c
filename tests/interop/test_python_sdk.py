"""The official Python SDK client (PyPI ``mcp`` 2.x) against the fixture service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcpmesh.config import ServerSettings
from mcpmesh.testing import RunningService, serve_in_background
from mcpmesh_fixture.service import create


@pytest.fixture
async def server() -> AsyncIterator[RunningService]:
    async with serve_in_background(create(ServerSettings(client_request_timeout=5))) as running:
        yield running


async def test_lists_and_calls(server: RunningService) -> None:
    async with (
        streamable_http_client(server.url) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        assert init.server_info.name == "fixture"
        tools = await session.list_tools()
        assert "test_simple_text" in {t.name for t in tools.tools}
        result = await session.call_tool("test_simple_text", {})
        assert result.content[0].text == "This is a simple text response for testing."
