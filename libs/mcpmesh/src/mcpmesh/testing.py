"""Helpers for testing services: serve one in-process on a free loopback port.

    async with serve_in_background(create(settings)) as url:
        async with streamable_http_client(url) as (read, write, _): ...

The service runs on the real aiohttp stack (sockets, HTTP parsing, SSE), exactly as in
production; only the process is shared with the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from mcpmesh.server.service import Service
from mcpmesh.transport.app import ENDPOINT_KEY, MCP_PATH, bind_socket, create_app
from mcpmesh.transport.http import McpEndpoint
from mcpmesh.transport.sessions import SessionStore


class RunningService:
    def __init__(self, url: str, app: web.Application) -> None:
        self.url = url
        self.base = url.removesuffix(MCP_PATH)
        self.app = app

    @property
    def endpoint(self) -> McpEndpoint:
        return self.app[ENDPOINT_KEY]

    def __str__(self) -> str:
        return self.url


@contextlib.asynccontextmanager
async def serve_in_background(
    service: Service, store: SessionStore | None = None
) -> AsyncIterator[RunningService]:
    app = create_app(service, store=store)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    sock = bind_socket("127.0.0.1", 0)
    site = web.SockSite(runner, sock)
    await site.start()
    port = sock.getsockname()[1]
    try:
        yield RunningService(f"http://localhost:{port}{MCP_PATH}", app)
    finally:
        await runner.cleanup()
