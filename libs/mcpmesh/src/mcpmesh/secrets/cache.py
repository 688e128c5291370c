"""An in-memory cache of leased values with single-flight fetching.

Each entry has two times: ``refresh_at`` (after it, the next caller triggers a fetch)
and ``expires_at`` (after it, the value is never served). Between the two, a failed
fetch — Vault down — still serves the cached value: the credential is valid, so the
tool keeps working. However many callers arrive while a fetch runs, they all await
that one fetch (single-flight), so a burst of calls makes one Vault request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import structlog

from mcpmesh.secrets.clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")

log = structlog.get_logger("mcpmesh.secrets")


class Leased(Generic[T]):
    """A value and the times it must be refreshed and must no longer be used."""

    __slots__ = ("expires_at", "refresh_at", "value")

    def __init__(self, value: T, refresh_at: float, expires_at: float) -> None:
        self.value = value
        self.refresh_at = refresh_at
        self.expires_at = expires_at

    @classmethod
    def for_ttl(cls, value: T, ttl: float, refresh_fraction: float, *, now: float) -> Leased[T]:
        """Refreshed after ``ttl * refresh_fraction``, unusable after ``ttl`` (``now``: the
        monotonic time of the cache's clock)."""
        return cls(value, now + ttl * refresh_fraction, now + ttl)


class LeaseCache(Generic[T]):
    """Values by key, fetched once per refresh however many callers ask at once."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._entries: dict[Hashable, Leased[T]] = {}
        self._inflight: dict[Hashable, asyncio.Future[Leased[T]]] = {}
        #: Fetches started (what "one Vault request per burst" is measured by).
        self.fetches = 0

    def peek(self, key: Hashable) -> Leased[T] | None:
        """The entry for ``key`` if it may still be used."""
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= self.clock.monotonic():
            del self._entries[key]
            return None
        return entry

    def put(self, key: Hashable, entry: Leased[T]) -> None:
        self._entries[key] = entry

    def entries(self) -> list[Leased[T]]:
        return list(self._entries.values())

    def clear(self) -> None:
        self._entries.clear()

    def discard(self, key: Hashable) -> None:
        """Drop one entry: the next ``get`` fetches it again."""
        self._entries.pop(key, None)

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[Leased[T]]]) -> T:
        entry = self.peek(key)
        if entry is not None and entry.refresh_at > self.clock.monotonic():
            return entry.value
        try:
            return (await self._fetch_once(key, fetch)).value
        except Exception:
            entry = self.peek(key)
            if entry is None:
                raise
            log.warning("secret_refresh_failed_serving_cached", key=str(key))
            return entry.value

    async def _fetch_once(
        self, key: Hashable, fetch: Callable[[], Awaitable[Leased[T]]]
    ) -> Leased[T]:
        future = self._inflight.get(key)
        if future is None:
            self.fetches += 1
            future = asyncio.ensure_future(self._fetch_and_store(key, fetch))
            self._inflight[key] = future
            future.add_done_callback(lambda _: self._inflight.pop(key, None))
        # shield: one impatient caller being cancelled must not cancel everyone's fetch.
        return await asyncio.shield(future)

    async def _fetch_and_store(
        self, key: Hashable, fetch: Callable[[], Awaitable[Leased[T]]]
    ) -> Leased[T]:
        entry = await fetch()
        self._entries[key] = entry
        return entry
