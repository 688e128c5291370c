"""Progress for long work, where the client asked for it (a ``progressToken``).

:func:`while_waiting` covers work that reports nothing itself (a database query): past
the first interval it sends elapsed seconds every interval (or a count the work keeps,
when it runs in a thread). :class:`ItemProgress` covers
work made of items (files searched, pages fetched): one notification per ``every``
items. Both are free when the client gave no progress token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mcpmesh.server.context import Context

T = TypeVar("T")

__all__ = ["ItemProgress", "while_waiting"]


async def while_waiting(
    ctx: Context[Any],
    work: Awaitable[T],
    *,
    every: float = 1.0,
    what: str = "working",
    count: Callable[[], int] | None = None,
) -> T:
    """Await ``work``; while it runs past ``every`` seconds, tell the client every
    ``every`` seconds: how long so far, or with ``count`` (read from work running in a
    thread, e.g. files walked) how many ``what`` so far, when that number grew."""
    if ctx.progress_token is None:
        return await work
    task = asyncio.ensure_future(work)
    started = time.monotonic()
    reported = 0
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            if count is None:
                elapsed = time.monotonic() - started
                await ctx.progress(round(elapsed, 1), message=f"{what}: {elapsed:.0f} s so far")
                continue
            items = count()
            if items > reported:
                reported = items
                await ctx.progress(items, message=f"{items} {what}")
    finally:
        if not task.done():
            task.cancel()


class ItemProgress:
    """Counts items and tells the client every ``every`` of them (and at ``done()``)."""

    def __init__(
        self, ctx: Context[Any], what: str, *, every: int = 100, total: float | None = None
    ) -> None:
        self.ctx = ctx
        self.what = what
        self.every = every
        self.total = total
        self.count = 0
        self._enabled = ctx.progress_token is not None

    async def step(self, items: int = 1) -> None:
        if not self._enabled:
            return
        before = self.count // self.every
        self.count += items
        if self.count // self.every != before:
            await self.ctx.progress(self.count, self.total, f"{self.count} {self.what}")

    async def done(self) -> None:
        if self._enabled and self.count % self.every:
            await self.ctx.progress(self.count, self.total, f"{self.count} {self.what}")
