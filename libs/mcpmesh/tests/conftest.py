"""Shared fixtures: the fixture service served in-process, and a raw HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from mcpmesh.config import ServerSettings
from mcpmesh.testing import RunningService, serve_in_background
from mcpmesh_fixture.service import create

JSON_AND_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture
async def fixture_server() -> AsyncIterator[RunningService]:
    settings = ServerSettings(max_body_bytes=64 * 1024, client_request_timeout=2.0)
    async with serve_in_background(create(settings)) as running:
        yield running


class RawClient:
    """A bare HTTP client speaking MCP by hand, to send exactly the bytes a test needs."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id: str | None = None
        self.next_id = 0

    def headers(self, **extra: str) -> dict[str, str]:
        headers = dict(JSON_AND_SSE)
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        headers.update(extra)
        return headers

    async def post(self, body: Any, **headers: str) -> aiohttp.ClientResponse:
        data = body if isinstance(body, bytes) else aiohttp.helpers.json.dumps(body).encode()  # type: ignore[attr-defined]
        return await self.http.post(self.url, data=data, headers=self.headers(**headers))

    async def initialize(
        self, capabilities: dict[str, Any] | None = None, version: str = "2025-11-25"
    ) -> dict[str, Any]:
        response = await self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": version,
                    "capabilities": capabilities or {},
                    "clientInfo": {"name": "raw-test-client", "version": "1"},
                },
            }
        )
        assert response.status == 200, await response.text()
        self.session_id = response.headers["Mcp-Session-Id"]
        body = await response.json()
        notified = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert notified.status == 202
        return body["result"]

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A request answered as plain JSON; returns the whole JSON-RPC response."""
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        response = await self.post(message)
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


@pytest.fixture
async def raw(fixture_server: RunningService) -> AsyncIterator[RawClient]:
    async with aiohttp.ClientSession() as http:
        yield RawClient(http, fixture_server.url)
