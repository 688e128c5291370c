"""Sessions: where their state is stored, and what each replica keeps live for them.

:class:`SessionStore` holds the serializable :class:`SessionState` (in memory here; the
bus provides a JetStream KV one so any replica can serve any session).
:class:`SessionRuntime` is the replica-local part: SSE streams, running handlers,
server→client requests waiting for an answer.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from typing import Any, Protocol

import msgspec

from mcpmesh.protocol.errors import McpError
from mcpmesh.protocol.jsonrpc import RequestId
from mcpmesh.protocol.session import SessionState
from mcpmesh.transport.sse import Stream

MAX_FINISHED_STREAMS = 16


def new_session_id() -> str:
    """256 random bits, URL-safe: visible ASCII as the spec requires, unguessable."""
    return secrets.token_urlsafe(32)


class SessionStore(Protocol):
    """Where session state lives between requests."""

    async def get(self, session_id: str) -> SessionState | None: ...

    async def put(self, state: SessionState) -> None: ...

    async def delete(self, session_id: str) -> None: ...


class MemorySessionStore:
    """Session state in this process: one replica, or tests."""

    def __init__(self) -> None:
        self._states: dict[str, bytes] = {}

    async def get(self, session_id: str) -> SessionState | None:
        raw = self._states.get(session_id)
        return None if raw is None else msgspec.msgpack.decode(raw, type=SessionState)

    async def put(self, state: SessionState) -> None:
        self._states[state.id] = msgspec.msgpack.encode(state)

    async def delete(self, session_id: str) -> None:
        self._states.pop(session_id, None)


class SessionRuntime:
    """What one replica keeps live for a session it is serving."""

    def __init__(
        self, state: SessionState, stream_capacity: int, replica_id: str | None = None
    ) -> None:
        self.state = state
        self.last_seen = time.monotonic()
        self.stream_capacity = stream_capacity
        self.streams: OrderedDict[str, Stream] = OrderedDict()
        #: The task answering each request in flight (aiohttp's task for its POST).
        self.inflight: dict[RequestId, asyncio.Task[Any]] = {}
        self.pending: dict[RequestId, asyncio.Future[msgspec.Raw]] = {}
        self.ended = False
        #: Set when the session ends here (wakes GET streams served from the bus).
        self.closed = asyncio.Event()
        #: A GET stream served from the bus is open on this replica.
        self.bus_stream_open = False
        self._stream_counter = 0
        self._request_counter = 0
        self._request_prefix = secrets.token_hex(3)
        # Shared sessions: ids start with the replica's, so answers and resumes find it.
        self._stream_prefix = "p"
        if replica_id is not None:
            self._request_prefix = f"{replica_id}-{self._request_prefix}"
            self._stream_prefix = f"{self._request_prefix}-p"

    @property
    def id(self) -> str:
        return self.state.id

    def new_stream(self) -> Stream:
        self._stream_counter += 1
        return self._add(
            Stream(f"{self._stream_prefix}{self._stream_counter}", self.stream_capacity)
        )

    def standalone_stream(self) -> Stream:
        stream = self.streams.get("g")
        return stream if stream is not None else self._add(Stream("g", self.stream_capacity))

    def _add(self, stream: Stream) -> Stream:
        self.streams[stream.id] = stream
        finished = [s.id for s in self.streams.values() if s.finished and s.writer is None]
        for stream_id in finished[: max(0, len(finished) - MAX_FINISHED_STREAMS)]:
            del self.streams[stream_id]
        return stream

    def new_request_id(self) -> str:
        """Ids of server→client requests: unique in the session across replicas."""
        self._request_counter += 1
        return f"{self._request_prefix}-{self._request_counter}"

    def end(self) -> None:
        """End the session here: cancel handlers, fail waiting requests, close streams."""
        self.ended = True
        self.closed.set()
        for task in self.inflight.values():
            task.cancel()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(McpError(-32600, "The session ended"))
        for stream in self.streams.values():
            stream.finish()
