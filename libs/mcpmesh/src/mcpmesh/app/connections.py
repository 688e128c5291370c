"""Connections cost nothing to an attacker, so each one is bounded.

aiohttp keeps a connection open as long as the peer likes unless told otherwise: idle
sockets, a request line and headers sent one byte a minute, a body that never ends.
Here: aiohttp's keep-alive timer (``MCPMESH_IDLE_TIMEOUT``) closes a connection that
has no request in progress, which covers both idle keep-alive sockets and half-sent
headers (the timer runs from the connection's start or the last response until a
whole request head has arrived); the endpoint bounds the body read
(``MCPMESH_BODY_TIMEOUT``); and :class:`ConnectionGuard` caps open connections
(``MCPMESH_MAX_CONNECTIONS``) below the file-descriptor limit, so accept never fails
with EMFILE. At the cap the connection idle the longest makes room for the new one,
so slow or idle clients cannot lock a good one out; only when every connection is
running a request is the newcomer refused with 503. Responses in progress (SSE
streams included, which carry their own keep-alives) are never closed by these limits.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from mcpmesh.config import ServerSettings

log = structlog.get_logger("mcpmesh.app.connections")

#: File descriptors kept free for everything else (pools, files, NATS, Vault).
FD_RESERVE = 128
_REFUSAL_BODY = (
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32603,'
    b'"message":"Too many connections; retry in a moment"}}'
)
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_REFUSAL_BODY), _REFUSAL_BODY)
)

_LINGER_SECONDS = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def connection_limit(wanted: int) -> int:
    """``wanted``, lowered (with a warning) to what the process's fd limit allows."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or wanted <= soft - FD_RESERVE:
        return wanted
    allowed = max(1, soft - FD_RESERVE)
    log.warning(
        "max_connections_lowered",
        wanted=wanted,
        allowed=allowed,
        fd_limit=soft,
        fix="raise the fd limit (ulimit -n) or lower MCPMESH_MAX_CONNECTIONS",
    )
    return allowed


class _Refusal(asyncio.Protocol):
    """Answers 503 and hangs up: what a connection past the cap gets."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_REFUSAL)
        transport.close()


class ConnectionGuard:
    """Caps open connections; knows which are running a request (busy) and since when
    the others have been idle, to close the longest idle one at the cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.refused = 0
        self.evicted = 0
        self._busy: dict[object, int] = {}
        self._idle_since: dict[object, float] = {}
        self._server: web.Server | None = None

    @property
    def open_connections(self) -> int:
        return len(self._server.connections) if self._server is not None else 0

    @property
    def busy_connections(self) -> int:
        return len(self._busy)

    def tracked(self, handler: Handler) -> Handler:
        """``handler``, its connection counted busy while it runs. A plain wrapper, not an
        aiohttp middleware: a middleware costs every request more than the tracking."""
        busy, idle_since = self._busy, self._idle_since

        async def run(request: web.Request) -> web.StreamResponse:
            protocol = request.protocol
            busy[protocol] = busy.get(protocol, 0) + 1
            try:
                return await handler(request)
            finally:
                left = busy.pop(protocol) - 1
                if left:
                    busy[protocol] = left
                idle_since[protocol] = time.monotonic()

        return run

    def factory(self, server: web.Server) -> Callable[[], asyncio.Protocol]:
        """The protocol factory for ``loop.create_server``: aiohttp's, behind the cap."""
        self._server = server

        def make() -> asyncio.Protocol:
            live = server.connections
            if len(live) >= self.limit and not self._make_room(live):
                self.refused += 1
                log.warning("connection_refused", reason="max_connections", limit=self.limit)
                return _Refusal()
            handler = server()
            self._idle_since[handler] = time.monotonic()
            return handler

        return make

    def _make_room(self, live: list[web.RequestHandler]) -> bool:
        alive = set(live)
        for gone in [h for h in self._idle_since if h not in alive]:
            # Not live: closed, or accepted a moment ago and not yet connected.
            if time.monotonic() - self._idle_since[gone] > 5.0:
                del self._idle_since[gone]
        idle = [h for h in live if h not in self._busy]
        if not idle:
            return False
        victim = min(idle, key=lambda h: self._idle_since.get(h, 0.0))
        victim.force_close()
        self.evicted += 1
        log.info("idle_connection_closed", reason="max_connections", limit=self.limit)
        return True


CONNECTIONS_KEY = web.AppKey("connections", ConnectionGuard)


def guard_connections(app: web.Application, settings: ServerSettings) -> ConnectionGuard:
    """Install the cap's bookkeeping on ``app`` (called by ``create_app``, which wraps the
    MCP endpoint's handlers in :meth:`ConnectionGuard.tracked`: only they run long — a
    call, an SSE stream; health and metrics answer at once)."""
    guard = ConnectionGuard(connection_limit(settings.max_connections))
    app[CONNECTIONS_KEY] = guard
    return guard


class Serving:
    """An app served on a socket: aiohttp's runner with the timeouts, behind the cap."""

    def __init__(self, runner: web.AppRunner, listener: asyncio.Server) -> None:
        self.runner = runner
        self.listener = listener

    async def stop(self) -> None:
        """Stop accepting, then aiohttp's graceful shutdown (in-flight calls finish)."""
        self.listener.close()
        await self.runner.cleanup()


async def start_serving(
    app: web.Application, sock: socket.socket, settings: ServerSettings
) -> Serving:
    """Serve ``app`` on the listening ``sock`` with every connection bound."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=settings.shutdown_timeout,
        keepalive_timeout=settings.idle_timeout,
        # After an early answer (413, 408) aiohttp reads the unread body this long so
        # the client sees the answer; a slow sender must not stretch that either.
        lingering_time=min(settings.body_timeout, _LINGER_SECONDS),
    )
    await runner.setup()
    assert runner.server is not None
    guard = app[CONNECTIONS_KEY]
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(guard.factory(runner.server), sock=sock, backlog=1024)
    return Serving(runner, listener)
