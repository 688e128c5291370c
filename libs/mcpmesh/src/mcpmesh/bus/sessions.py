"""Session state in a JetStream KV bucket, cached in every replica and kept fresh by a watch.

Reads come from the local cache (a tools/call never waits on NATS); the watch delivers
every put and delete from any replica within milliseconds, so a DELETE anywhere ends
the session everywhere. A miss (a session created a moment ago elsewhere, not yet seen
by the watch) reads the bucket directly. The bucket's TTL expires idle sessions;
replicas refresh the entries of sessions they see in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable

import msgspec
import structlog
from nats.aio.client import Client as NatsClient
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from mcpmesh.protocol.session import SessionState
from mcpmesh.transport.cluster import ClusterUnavailable

log = structlog.get_logger("mcpmesh.bus.sessions")

_decode = msgspec.msgpack.Decoder(SessionState).decode
_encode = msgspec.msgpack.Encoder().encode
#: What session ids look like (URL-safe base64); anything else is not a key we wrote.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class KvSessionStore:
    """:class:`~mcpmesh.transport.sessions.SessionStore` over a JetStream KV bucket."""

    def __init__(self, nc: NatsClient, bucket: str, ttl: float, timeout: float) -> None:
        self.nc = nc
        self.bucket = bucket
        self.ttl = ttl
        self.timeout = timeout
        self.states: dict[str, SessionState] = {}
        #: When each session's entry was last written (monotonic), to refresh it in time.
        self.written: dict[str, float] = {}
        self.kv: KeyValue | None = None
        self.on_changed: Callable[[SessionState], None] | None = None
        self.on_removed: Callable[[str], None] | None = None
        self._watcher: KeyValue.KeyWatcher | None = None
        self._pump: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create (or bind) the bucket and start watching it."""
        js = self.nc.jetstream(timeout=self.timeout)
        self.kv = await js.create_key_value(bucket=self.bucket, ttl=self.ttl, history=1)
        self._watcher = await self.kv.watchall()
        self._pump = asyncio.create_task(self._follow(self._watcher))

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._watcher is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await self._watcher.stop()

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is None:  # "caught up" marker
                continue
            if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
                self._drop(entry.key)
                continue
            try:
                state = _decode(entry.value)
            except msgspec.DecodeError:
                log.warning("session_entry_unreadable", key=entry.key[:8])
                continue
            self.states[state.id] = state
            self.written[state.id] = time.monotonic()
            if self.on_changed is not None:
                self.on_changed(state)

    def _kv(self) -> KeyValue:
        if self.kv is None or not self.nc.is_connected:
            raise ClusterUnavailable(
                "The session store (NATS) is unreachable right now; retry in a moment."
            )
        return self.kv

    def _expired(self, session_id: str, now: float) -> bool:
        """No replica wrote the entry for a whole TTL: the bucket has dropped it (an
        expiry sends no delete through the watch, so the cache must notice by itself)."""
        return now - self.written.get(session_id, now) > self.ttl

    def _drop(self, session_id: str) -> None:
        self.states.pop(session_id, None)
        self.written.pop(session_id, None)
        if self.on_removed is not None:
            self.on_removed(session_id)

    async def get(self, session_id: str) -> SessionState | None:
        state = self.states.get(session_id)
        if state is not None and not self._expired(session_id, time.monotonic()):
            return state
        if state is not None:
            self._drop(session_id)
        if not _SESSION_ID.fullmatch(session_id):
            return None
        kv = self._kv()
        try:
            entry = await asyncio.wait_for(kv.get(session_id), self.timeout)
        except KeyNotFoundError:
            return None
        except TimeoutError:
            raise ClusterUnavailable("The session store (NATS) did not answer in time.") from None
        if not entry.value:
            return None
        state = _decode(entry.value)
        self.states[session_id] = state
        self.written.setdefault(session_id, time.monotonic())
        return state

    async def put(self, state: SessionState) -> None:
        kv = self._kv()
        try:
            await asyncio.wait_for(kv.put(state.id, _encode(state)), self.timeout)
        except TimeoutError:
            raise ClusterUnavailable("The session store (NATS) did not answer in time.") from None
        self.states[state.id] = state
        self.written[state.id] = time.monotonic()

    async def delete(self, session_id: str) -> None:
        kv = self._kv()
        try:
            await asyncio.wait_for(kv.delete(session_id), self.timeout)
        except TimeoutError:
            raise ClusterUnavailable("The session store (NATS) did not answer in time.") from None
        self.states.pop(session_id, None)
        self.written.pop(session_id, None)

    async def refresh(self, last_seen: dict[str, float]) -> None:
        """Rewrite entries of sessions used since their last write, before the TTL ends
        them; forget cached sessions the TTL has ended (on every replica alike)."""
        now = time.monotonic()
        for session_id in [sid for sid in self.states if self._expired(sid, now)]:
            self._drop(session_id)
        for session_id, seen in last_seen.items():
            written = self.written.get(session_id, 0.0)
            state = self.states.get(session_id)
            if state is not None and seen > written and now - written > self.ttl / 4:
                try:
                    await self.put(state)
                except ClusterUnavailable:
                    return
