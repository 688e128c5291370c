"""Resource subscriptions: notice changes to subscribed files and tell the subscribers.

Polling, not inotify: only the files some live session subscribed to are looked at, one
``fstat`` each per interval, through the same sandbox walk as every read. Nothing is
registered with the kernel, so nothing can leak when a session ends without
unsubscribing: the set of watched files is recomputed from the live sessions on every
tick, and a file nobody subscribes to any more is simply no longer looked at. It also
works where inotify does not (network filesystems, bind mounts in containers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from mcpmesh import Service
from mcpmesh_filesystem.sandbox import Sandbox, file_uri_path

log = structlog.get_logger("mcpmesh.filesystem.watch")

Signature = tuple[int, int, int, int, int] | None
Offload = Callable[..., Awaitable[Any]]


def signature_of(status: os.stat_result) -> Signature:
    """What changes when a file is written, replaced or re-permissioned."""
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_mode)


def live_subscriptions(service: Service[Any]) -> set[str]:
    """``file://`` URIs some live session served by this replica subscribed to."""
    return {uri for uri in service.subscribed_uris() if uri.startswith("file://")}


class SubscriptionWatcher:
    def __init__(
        self, service: Service[Any], sandbox: Sandbox, offload: Offload, interval: float, limit: int
    ) -> None:
        self.service = service
        self.sandbox = sandbox
        self.offload = offload
        self.interval = interval
        self.limit = limit
        #: Last seen state of each watched URI (None: missing or not allowed).
        self.watched: dict[str, Signature] = {}
        #: States seen by recent resource reads: the baseline when a subscription follows.
        self._recent: OrderedDict[str, Signature] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.watched.clear()

    def remember(self, uri: str, signature: Signature) -> None:
        """A resource read saw this state: a change after it is news to the reader."""
        self._recent[uri] = signature
        self._recent.move_to_end(uri)
        while len(self._recent) > self.limit:
            self._recent.popitem(last=False)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except Exception:
                log.exception("watch_tick_failed")

    async def tick(self) -> None:
        """Compare each subscribed file with its last state; notify the changed ones."""
        wanted = sorted(live_subscriptions(self.service))[: self.limit]
        for uri in list(self.watched):
            if uri not in wanted:
                del self.watched[uri]
        if not wanted:
            return
        current = await self.offload(self._signatures, wanted)
        for uri, signature in current.items():
            before = self.watched[uri] if uri in self.watched else self._recent.get(uri, signature)
            self.watched[uri] = signature
            if signature != before:
                await self.service.notify_resource_updated(uri)

    def _signatures(self, uris: list[str]) -> dict[str, Signature]:
        return {uri: self.signature(uri) for uri in uris}

    def signature(self, uri: str) -> Signature:
        path = file_uri_path(uri)
        if path is None:
            return None
        try:
            with self.sandbox.resolve(self.sandbox.roots, path) as found:
                assert found.stat is not None
                return signature_of(found.stat)
        except Exception:
            return None
