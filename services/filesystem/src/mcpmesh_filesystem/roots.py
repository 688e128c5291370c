"""Per-session allowed roots: the configured roots, narrowed by the client's own roots.

A client that declares the ``roots`` capability is asked once per session
(``roots/list``); the answer is cached until the client says its roots changed
(``notifications/roots/list_changed``). A client without the capability gets the
configured roots. The client can only narrow: see :meth:`Sandbox.narrow`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from mcpmesh import Context, ToolError
from mcpmesh_filesystem.sandbox import Root, Sandbox, shown

Offload = Callable[..., Awaitable[Any]]


class SessionRoots:
    """The roots each session may use, cached (LRU-bounded: sessions end without telling us)."""

    def __init__(self, sandbox: Sandbox, offload: Offload, max_sessions: int = 4096) -> None:
        self.sandbox = sandbox
        self.offload = offload
        self.max_sessions = max_sessions
        self._cache: OrderedDict[str, list[Root]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    def narrowed(self, ctx: Context) -> bool:
        return ctx.session.capabilities.roots is not None

    async def for_context(self, ctx: Context) -> list[Root]:
        if ctx.session.capabilities.roots is None:
            return self.sandbox.roots
        cached = self._cache.get(ctx.session_id)
        if cached is None:
            lock = self._locks.setdefault(ctx.session_id, asyncio.Lock())
            try:
                async with lock:
                    cached = self._cache.get(ctx.session_id)
                    if cached is None:
                        cached = await self._ask(ctx)
            finally:  # also when the question ends a 2026 attempt (input_required)
                self._locks.pop(ctx.session_id, None)
        else:
            self._cache.move_to_end(ctx.session_id)
        if not cached:
            allowed = ", ".join(shown(r.path) for r in self.sandbox.roots)
            raise ToolError(
                "None of your client's roots lies inside the directories this service allows "
                f"({allowed}). Add one of them (or a folder inside one) as a root in your client."
            )
        return cached

    async def _ask(self, ctx: Context) -> list[Root]:
        try:
            client_roots = await ctx.list_roots()
        except ToolError as exc:
            raise ToolError(
                f"Could not learn your client's roots, so nothing was accessed: {exc}"
            ) from None
        roots = await self.offload(self.sandbox.narrow, [r.uri for r in client_roots])
        self._cache[ctx.session_id] = roots
        while len(self._cache) > self.max_sessions:
            self._cache.popitem(last=False)
        return roots

    def forget(self, session_id: str) -> None:
        self._cache.pop(session_id, None)
