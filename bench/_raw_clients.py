"""The lightest client of each MCP transport, to compare servers without the official
SDK client's own cost (its Streamable HTTP client alone costs more per call than the
stdio one, so SDK columns of an HTTP and a stdio server measure the clients too).

Both do what any client must and nothing more: ``initialize`` once, then one JSON-RPC
request per call with a fresh id, the answer decoded (msgspec, as JSON) and checked to be
a result. :class:`StdioClient` writes newline-delimited JSON to a child's stdin and reads
its stdout; :class:`HttpClient` POSTs the same body on one aiohttp session (keep-alive
connections, the session id and protocol version headers). Both take concurrent calls
(answers are matched by id on stdio; on HTTP each call has its own connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

VERSION = "2025-11-25"
_CLIENT_INFO = {"name": "bench-raw", "version": "1"}
_encode = msgspec.json.encode
_decode = msgspec.json.decode


class CallFailed(RuntimeError):
    """The server answered with a JSON-RPC error or a tool error."""


def _checked(answer: dict[str, Any]) -> dict[str, Any]:
    if "error" in answer:
        raise CallFailed(str(answer["error"])[:300])
    result: dict[str, Any] = answer["result"]
    if result.get("isError"):
        raise CallFailed(str(result.get("content"))[:300])
    return result


def _initialize(id_: int) -> dict[str, Any]:
    params = {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": _CLIENT_INFO}
    return {"jsonrpc": "2.0", "id": id_, "method": "initialize", "params": params}


_INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class StdioClient:
    """Newline-delimited JSON-RPC over a child process's stdin and stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read_answers())

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, *command: str) -> AsyncIterator[StdioClient]:
        """``command`` started (its stderr discarded) and initialized."""
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=64 * 1024 * 1024,  # one answer is one line, however long
        )
        client = cls(process)
        try:
            await client.call("initialize", _initialize(0)["params"])
            client._send(_INITIALIZED)
            yield client
        finally:
            await client._close()

    def _send(self, message: dict[str, Any]) -> None:
        self._stdin.write(_encode(message) + b"\n")

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        id_ = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            message["params"] = params
        answer = self._pending[id_] = asyncio.get_running_loop().create_future()
        self._send(message)
        try:
            return _checked(await answer)
        finally:
            self._pending.pop(id_, None)

    async def _read_answers(self) -> None:
        try:
            while line := await self._stdout.readline():
                message = _decode(line)
                waiting = self._pending.get(message.get("id"))
                if waiting is not None and not waiting.done():
                    waiting.set_result(message)
                # Anything else (a notification, a log line) is not an answer: skipped.
        finally:
            for waiting in self._pending.values():
                if not waiting.done():
                    waiting.set_exception(ConnectionError("the server closed its stdout"))

    async def _close(self) -> None:
        self._stdin.close()
        with contextlib.suppress(ProcessLookupError):
            self._process.terminate()
        await self._process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


class HttpClient:
    """MCP Streamable HTTP with plain JSON answers, on one aiohttp session."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self._http = http
        self._url = url
        self._ids = itertools.count(1)
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, url: str) -> AsyncIterator[HttpClient]:
        """A session at ``url``, initialized."""
        async with aiohttp.ClientSession() as http:
            client = cls(http, url)
            async with http.post(url, data=_encode(_initialize(0)), headers=client._headers) as r:
                if r.status != 200:
                    raise CallFailed(f"initialize: HTTP {r.status}: {(await r.text())[:300]}")
                _checked(_decode(await r.read()))
                session = r.headers.get("Mcp-Session-Id")
            client._headers["MCP-Protocol-Version"] = VERSION
            if session:
                client._headers["Mcp-Session-Id"] = session
            async with http.post(url, data=_encode(_INITIALIZED), headers=client._headers) as r:
                if r.status != 202:
                    raise CallFailed(f"notifications/initialized: HTTP {r.status}")
            yield client

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        async with self._http.post(self._url, data=_encode(message), headers=self._headers) as r:
            body = await r.read()
            if r.status != 200 or r.content_type != "application/json":
                raise CallFailed(f"{method}: HTTP {r.status} {r.content_type}: {body[:300]!r}")
        return _checked(_decode(body))
