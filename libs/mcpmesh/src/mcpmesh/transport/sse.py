"""SSE streams with event ids, a bounded replay buffer, and ``Last-Event-ID`` resumption.

Every SSE stream of a session has an id: ``g`` for the GET stream of server-initiated
messages, ``p<n>`` for the stream answering the n-th POST that needed one. Event ids are
``<stream>.<seq>``, unique within the session and telling which stream to resume. Each
stream keeps its last events, so a client that lost the connection (or was told to
poll) can GET them again with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from aiohttp import web

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}


def format_event(event_id: str | None, data: bytes, retry_ms: int | None = None) -> bytes:
    parts = []
    if event_id is not None:
        parts.append(b"id: " + event_id.encode() + b"\n")
    if retry_ms is not None:
        parts.append(b"retry: " + str(retry_ms).encode() + b"\n")
    parts.append(b"data: " + data + b"\n\n")
    return b"".join(parts)


class ResumeError(Exception):
    """A ``Last-Event-ID`` that cannot be resumed (malformed, unknown, or expired)."""


def parse_event_id(event_id: str) -> tuple[str, int]:
    stream_id, dot, seq_text = event_id.rpartition(".")
    if not dot or not stream_id or not seq_text.isdigit() or len(seq_text) > 18:
        raise ResumeError(f"Malformed Last-Event-ID: {event_id[:80]!r}")
    return stream_id, int(seq_text)


class Mirror(Protocol):
    """Where a stream's events are copied so another replica can resume it (the bus)."""

    async def event(self, stream: Stream, seq: int, chunk: bytes) -> None: ...

    async def end(self, stream: Stream) -> None: ...


class Stream:
    """One SSE stream of a session: its replay buffer and, when connected, its writer."""

    def __init__(self, stream_id: str, capacity: int) -> None:
        self.id = stream_id
        #: Set by the bus when the session is shared between replicas.
        self.mirror: Mirror | None = None
        #: The JSON-RPC id of the request this stream answers (``None``: the GET stream).
        self.request_id: object = None
        self.seq = 0
        self.events: deque[tuple[int, bytes]] = deque(maxlen=capacity)
        self.writer: web.StreamResponse | None = None
        #: Set when the stream's last event was sent (the request's response).
        self.finished = False
        #: Wakes the handler that holds the writer: finished, detached or session ended.
        self.changed = asyncio.Event()

    def next_id(self) -> str:
        self.seq += 1
        return f"{self.id}.{self.seq}"

    async def send(self, data: bytes) -> None:
        """Record an event and deliver it to the live writer, if there is one."""
        chunk = format_event(self.next_id(), data)
        self.events.append((self.seq, chunk))
        if self.mirror is not None:
            await self.mirror.event(self, self.seq, chunk)
        await self._write(chunk)

    async def prime(self, retry_ms: int) -> None:
        """The priming event: an id (so the client can resume) and no data (SEP-1699)."""
        chunk = format_event(self.next_id(), b"", retry_ms)
        self.events.append((self.seq, chunk))
        if self.mirror is not None:
            await self.mirror.event(self, self.seq, chunk)
        await self._write(chunk)

    async def _write(self, chunk: bytes) -> None:
        writer = self.writer
        if writer is None:
            return
        try:
            await writer.write(chunk)
        except (ConnectionError, RuntimeError):
            # A disconnect is not a cancellation: keep the events for a resume.
            self.detach()

    def replay_after(self, seq: int) -> list[bytes]:
        """The events after ``seq``; refuses when some of them were already dropped."""
        if seq > self.seq:
            raise ResumeError(f"Last-Event-ID {self.id}.{seq} was never sent")
        oldest = self.events[0][0] if self.events else self.seq + 1
        if seq + 1 < oldest:
            raise ResumeError(
                f"Events after {self.id}.{seq} are no longer retained; start a new request"
            )
        return [chunk for number, chunk in self.events if number > seq]

    def attach(self, writer: web.StreamResponse) -> None:
        self.writer = writer
        self.changed.clear()

    def detach(self) -> None:
        self.writer = None
        self.changed.set()

    def finish(self) -> None:
        self.finished = True
        self.changed.set()

    async def end(self) -> None:
        """The request's answer was sent: finish here and wherever the stream is mirrored."""
        self.finish()
        if self.mirror is not None:
            await self.mirror.end(self)
