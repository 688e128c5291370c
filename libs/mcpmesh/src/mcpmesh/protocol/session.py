"""What the protocol remembers about one session, in a form any replica can load.

Only serializable state lives here (it is what the bus stores in JetStream KV); live
objects such as open streams and waiting futures stay with the transport.
"""

from __future__ import annotations

import msgspec

from mcpmesh.protocol.types import ClientCapabilities, Implementation, LogLevel


class SessionState(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    protocol_version: str
    capabilities: ClientCapabilities = msgspec.field(default_factory=ClientCapabilities)
    client_info: Implementation | None = None
    initialized: bool = False
    #: ``None``: send no log messages (the 2026-07-28 default, unless ``_meta`` asks).
    log_level: LogLevel | None = "info"
    #: Who the session belongs to (set by authentication); ``None`` when auth is off.
    principal: str | None = None
    subscriptions: list[str] = msgspec.field(default_factory=list)
    created_at: float = 0.0
    #: A 2026-07-28 request's own state (its id is per request: there is no session).
    stateless: bool = False
