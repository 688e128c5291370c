"""The names a service uses on NATS, in one place: the server config's per-service
permissions (:mod:`mcpmesh.bus.permissions`) are written from the same functions.

Everything a service ``S`` owns carries its name: ``P.S.>`` (routing), ``P.events.S.>``
in the stream ``P_EVENTS_S`` (SSE events), ``P.audit.S.<replica>`` (its audit chains),
the KV buckets ``P_sessions_S``, ``P_sampling_rate_S`` and ``P_dpop_S`` (DPoP replay
cache), and ``_INBOX.P.S.>`` (replies).
"""

from __future__ import annotations

import re

#: Second subject tokens of the mesh's shared subjects: no service may be named so.
RESERVED = frozenset({"events", "audit", "sampling"})


def token(name: str) -> str:
    """A name made safe for one subject token and for stream and bucket names."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "_"


def events_stream(prefix: str, service: str) -> str:
    return f"{prefix.upper()}_EVENTS_{token(service)}"


def sessions_bucket(prefix: str, service: str) -> str:
    return f"{prefix}_sessions_{token(service)}"


def rate_bucket(prefix: str, service: str) -> str:
    return f"{prefix}_sampling_rate_{token(service)}"


def replay_bucket(prefix: str, service: str) -> str:
    return f"{prefix}_dpop_{token(service)}"
