"""The DPoP ``jti`` replay cache shared by every replica of a service (JetStream KV).

A proof must be accepted once across the whole service, not once per replica: a thief
who captured a request could otherwise replay its proof at another replica within the
proof's window. Each accepted proof's ``jti`` (with the key's thumbprint) is written
create-only into a KV bucket whose TTL is the proof window; a second create of the same
key fails on every replica — the replay is refused.
"""

from __future__ import annotations

import asyncio
import hashlib

import structlog
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from mcpmesh.auth.dpop import MemoryReplayCache

log = structlog.get_logger("mcpmesh.bus.replay")


class KvReplayCache:
    """:class:`~mcpmesh.auth.ReplayCache` over a KV bucket (TTL = the proof window).

    Until the bucket is open (the bus connects after the app starts), and whenever NATS
    does not answer in time, this replica's own memory cache decides and a warning is
    logged: replays at this replica are still refused, and the bus is back within the
    outage that also stops shared sessions.
    """

    def __init__(self, timeout: float) -> None:
        self.kv: KeyValue | None = None
        self.local = MemoryReplayCache()
        self.timeout = timeout

    async def first_use(self, key: str, expires_at: float) -> bool:
        if not await self.local.first_use(key, expires_at):
            return False  # seen here already: no need to ask the bus
        if self.kv is None:
            log.warning("dpop_replay_cache_local_only", reason="bus not connected")
            return True
        name = hashlib.sha256(key.encode()).hexdigest()
        try:
            await asyncio.wait_for(self.kv.create(name, b"1"), self.timeout)
        except KeyWrongLastSequenceError:
            return False  # another replica accepted this proof first
        except Exception as exc:
            log.warning("dpop_replay_cache_local_only", reason=type(exc).__name__)
        return True
