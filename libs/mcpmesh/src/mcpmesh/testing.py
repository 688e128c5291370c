"""Helpers for testing services: serve one in-process on a free loopback port.

    async with serve_in_background(create(settings)) as url:
        async with streamable_http_client(url) as (read, write, _): ...

The service runs on the real aiohttp stack (sockets, HTTP parsing, SSE), exactly as in
production; only the process is shared with the test.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Generic

import aiohttp
from aiohttp import web

from mcpmesh.app import ENDPOINT_KEY, MCP_PATH, bind_socket, create_app
from mcpmesh.server.context import StateT
from mcpmesh.server.service import Service
from mcpmesh.transport.http import McpEndpoint
from mcpmesh.transport.sessions import SessionStore


class RunningService(Generic[StateT]):
    def __init__(self, url: str, app: web.Application, service: Service[StateT]) -> None:
        self.url = url
        self.base = url.removesuffix(MCP_PATH)
        self.app = app
        self.service = service

    @property
    def endpoint(self) -> McpEndpoint:
        return self.app[ENDPOINT_KEY]

    @property
    def state(self) -> StateT:
        """What the service's lifespan yielded (its pools, clients), for assertions."""
        return self.service.state

    def __str__(self) -> str:
        return self.url


@contextlib.asynccontextmanager
async def serve_in_background(
    service: Service[StateT], store: SessionStore | None = None
) -> AsyncIterator[RunningService[StateT]]:
    app = create_app(service, store=store)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    sock = bind_socket("127.0.0.1", 0)
    site = web.SockSite(runner, sock)
    await site.start()
    port = sock.getsockname()[1]
    try:
        yield RunningService(f"http://localhost:{port}{MCP_PATH}", app, service)
    finally:
        await runner.cleanup()


JSON_AND_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


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
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
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


class SseEvent:
    def __init__(self, event_id: str | None, data: str, retry: int | None) -> None:
        self.id = event_id
        self.data = data
        self.retry = retry

    def json(self) -> Any:
        return json.loads(self.data)

    def __repr__(self) -> str:
        return f"SseEvent(id={self.id!r}, data={self.data[:60]!r}, retry={self.retry})"


async def read_sse(response: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """Parse an SSE response into events (comments skipped), until the server closes it."""
    event_id: str | None = None
    data: list[str] = []
    retry: int | None = None
    seen_field = False
    async for raw_line in response.content:
        line = raw_line.decode().rstrip("\r\n")
        if not line:
            if seen_field:
                yield SseEvent(event_id, "\n".join(data), retry)
            event_id, data, retry, seen_field = None, [], None, False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        seen_field = True
        if name == "id":
            event_id = value
        elif name == "data":
            data.append(value)
        elif name == "retry":
            retry = int(value)
