"""A small bounded cache whose entries carry their own expiry time."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


def token_digest(token: str) -> str:
    """What caches key a token by: its SHA-256, so the token itself is never kept."""
    return hashlib.sha256(token.encode()).hexdigest()


class ExpiringCache(Generic[V]):
    """Least recently used entries go first when full; expired ones are never returned."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._max = max_entries

    def get(self, key: str, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, value: V, expires_at: float) -> None:
        if self._max <= 0:
            return
        self._entries[key] = (expires_at, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
