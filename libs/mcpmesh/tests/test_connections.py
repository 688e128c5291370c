"""Connections are bounded, checked with real sockets: idle ones, half-sent headers and
half-sent bodies are closed within their timeouts, SSE streams are not, and at the
connection cap a good client is still served."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
import structlog

from mcpmesh.app.connections import CONNECTIONS_KEY
from mcpmesh.config import ServerSettings
from mcpmesh.obs.logging import RepeatFolder
from mcpmesh.testing import ManualClock, RawClient, RunningService, eventually, serve_in_background
from mcpmesh_fixture.service import create

TIMEOUT = 0.5
CAP = 6


@pytest.fixture
async def strict() -> AsyncIterator[RunningService]:
    settings = ServerSettings(idle_timeout=TIMEOUT, body_timeout=TIMEOUT, max_connections=CAP)
    async with serve_in_background(create(settings)) as running:
        yield running


@contextlib.asynccontextmanager
async def connection(
    running: RunningService,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    address = urlsplit(running.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sent before it closed the connection (fails if it never does)."""
    return await asyncio.wait_for(reader.read(), within)


async def test_idle_connection_is_closed(strict: RunningService) -> None:
    async with connection(strict) as (reader, _writer):
        assert await closed_by_server(reader, TIMEOUT * 6) == b""


async def test_half_sent_headers_are_closed(strict: RunningService) -> None:
    async with connection(strict) as (reader, writer):
        writer.write(b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl")
        await writer.drain()
        assert await closed_by_server(reader, TIMEOUT * 6) == b""


async def test_idle_after_a_request_is_closed(strict: RunningService) -> None:
    async with connection(strict) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        answer = await closed_by_server(reader, TIMEOUT * 6)
        assert answer.startswith(b"HTTP/1.1 200")


async def test_half_sent_body_gets_408_and_is_closed(strict: RunningService) -> None:
    async with connection(strict) as (reader, writer):
        writer.write(
            b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n"
            b'{"jsonrpc":'
        )
        await writer.drain()
        answer = await closed_by_server(reader, TIMEOUT * 6)
        assert answer.startswith(b"HTTP/1.1 408")
        assert b"-32600" in answer


async def test_sse_stream_outlives_the_idle_timeout(strict: RunningService) -> None:
    async with aiohttp.ClientSession() as http, connection(strict) as (idle, _writer):
        raw = RawClient(http, strict.url)
        await raw.initialize()
        get = await http.get(raw.url, headers=raw.headers(Accept="text/event-stream"))
        assert get.status == 200
        # The idle socket opened alongside is closed by the timer; the stream is not.
        assert await closed_by_server(idle, TIMEOUT * 6) == b""
        assert get.connection is not None and not get.content.at_eof()
        assert (await raw.call("ping"))["result"] == {}
        get.close()


async def test_good_client_is_served_at_the_cap(strict: RunningService) -> None:
    """CAP idle sockets (slowloris-style) fill the cap; a new client still gets in,
    because the longest idle connection makes room for it."""
    guard = strict.app[CONNECTIONS_KEY]
    async with contextlib.AsyncExitStack() as stack:
        readers = []
        for _ in range(CAP):
            reader, writer = await stack.enter_async_context(connection(strict))
            writer.write(b"POST /mcp HTTP/1.1\r\nHost: local")  # half a request head
            await writer.drain()
            readers.append(reader)
        await eventually(
            lambda: guard.open_connections >= CAP, timeout=5, message="sockets not accepted"
        )
        async with aiohttp.ClientSession() as http:
            raw = RawClient(http, strict.url)
            await raw.initialize()
            assert (await raw.call("ping"))["result"] == {}
        assert guard.evicted >= 1
        assert await closed_by_server(readers[0], TIMEOUT * 6) == b""


async def test_newcomer_gets_503_when_every_connection_is_busy(strict: RunningService) -> None:
    guard = strict.app[CONNECTIONS_KEY]
    head = (
        b"POST /mcp HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{"
    )
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(CAP):
            _reader, writer = await stack.enter_async_context(connection(strict))
            writer.write(head)  # a handler now waits for the rest of the body: busy
            await writer.drain()
        await eventually(lambda: guard.busy_connections >= CAP, timeout=5, message="not all busy")
        async with connection(strict) as (reader, _writer):
            answer = await closed_by_server(reader, 5)
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer
        assert guard.refused >= 1
    # The busy ones time out (408) and the server serves again.
    async with aiohttp.ClientSession() as http:
        raw = RawClient(http, strict.url)

        async def served() -> bool:
            await raw.initialize()
            return True

        await eventually(served, timeout=10, message="the server did not recover")


def test_repeated_log_lines_are_folded() -> None:
    clock = ManualClock()
    folder = RepeatFolder(10.0, clock=clock.monotonic)
    line = {"event": "accept_failed", "error": "EMFILE"}
    passed = []
    for _ in range(1000):
        with contextlib.suppress(structlog.DropEvent):
            passed.append(folder(None, "error", dict(line)))
    assert len(passed) == 1 and "repeated" not in passed[0]
    assert folder(None, "info", {"event": "other"}) == {"event": "other"}  # not a repeat
    clock.advance(10.0)
    after = folder(None, "error", dict(line))
    assert after["repeated"] == "… repeated 999 times"


def test_per_call_log_lines_are_never_folded() -> None:
    """The call log promises one line per tool call: two calls that log the same line
    (the 2026 wire has no session or request id to tell them apart) are two lines."""
    folder = RepeatFolder(10.0, clock=ManualClock().monotonic)
    line = {"event": "call", "tool": "echo", "principal": None, "outcome": "ok", "ms": 0.1}
    assert [folder(None, "info", dict(line)) for _ in range(3)] == [line] * 3


def test_repeated_stdlib_log_records_are_folded() -> None:
    """asyncio's accept errors come through the standard library's logging."""
    clock = ManualClock()
    folder = RepeatFolder(10.0, clock=clock.monotonic)
    error = OSError(24, "Too many open files")

    def record() -> logging.LogRecord:
        return logging.LogRecord(
            "asyncio",
            logging.ERROR,
            __file__,
            1,
            "socket.accept() out of system resource",
            None,
            (OSError, error, None),
        )

    kept = [r for r in (record() for _ in range(500)) if folder.filter(r)]
    assert len(kept) == 1
    assert folder.filter(kept[0]), "a second handler must see the same decision"
    clock.advance(11.0)
    later = record()
    assert folder.filter(later) and "repeated 499 times" in later.getMessage()
