"""Bus settings: ``MCPMESH_NATS_…`` and ``MCPMESH_SAMPLING_…`` environment variables."""

from __future__ import annotations

from typing import Literal

import msgspec

BUS_PREFIX = "MCPMESH_NATS_"
SAMPLING_PREFIX = "MCPMESH_SAMPLING_"


class BusSettings(msgspec.Struct, kw_only=True, frozen=True):
    """How a service uses NATS (prefix ``MCPMESH_NATS_``). No URL: one replica, in-process."""

    #: NATS server URL(s), comma-separated, e.g. ``nats://127.0.0.1:4222``; empty = no bus.
    url: str = ""
    #: First token of every subject, and of the bucket and stream names (one mesh per NATS).
    prefix: str = "mcpmesh"
    #: Seconds a session lives in the KV bucket without activity (the bucket's TTL).
    session_ttl: float = 3600.0
    #: Seconds to wait for another replica (routed responses, KV reads) before failing.
    request_timeout: float = 5.0
    #: Seconds SSE events are kept in JetStream for ``Last-Event-ID`` resumption.
    event_retention: float = 600.0
    #: SSE events kept per stream in JetStream (older ones can no longer be resumed).
    events_per_stream: int = 1000
    #: Keep raw tool arguments in audit events (default: only their SHA-256 digest).
    audit_raw_arguments: bool = False
    #: Audit events kept (JetStream limits; 0 = no limit). Oldest go first.
    audit_max_events: int = 0
    #: Days audit events are kept (0 = forever).
    audit_max_age_days: float = 0.0
    #: Audit events buffered in memory while NATS is slow or down; past it they are counted
    #: as dropped, and a gap event records how many.
    audit_buffer: int = 100_000


class SamplingSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Sampling policy and the broker's LLM backend (prefix ``MCPMESH_SAMPLING_``)."""

    #: Largest ``maxTokens`` a tool may ask for; bigger requests are capped to it.
    max_tokens: int = 1024
    #: Sampling requests allowed per principal (session when there is none) per window.
    rate_limit: int = 30
    #: Length of the rate-limit window, seconds.
    rate_window: float = 60.0
    #: Run the sampling broker in this process (answers ``ctx.sample()`` from services whose
    #: client cannot sample). Needs ``LLM_URL``; without it no broker runs.
    broker: bool = True
    #: LLM HTTP API: ``openai`` (chat completions) or ``anthropic`` (Messages API).
    llm_api: Literal["openai", "anthropic"] = "openai"
    #: Base URL of the LLM API, e.g. ``https://api.openai.com/v1`` or
    #: ``https://api.anthropic.com/v1``; empty = no LLM backend (requests are refused).
    llm_url: str = ""
    #: Model used when the request's hints name none the backend knows.
    llm_model: str = ""
    #: File holding the LLM API key (read when the broker starts; never logged).
    llm_api_key_file: str = ""
    #: Seconds an LLM call may take.
    llm_timeout: float = 60.0
