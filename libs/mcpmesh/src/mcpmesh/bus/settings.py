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
    #: Audit events buffered in memory while NATS is slow or down (none is ever dropped).
    audit_buffer: int = 100_000
    #: When the buffer is full: ``wait`` (a call waits for room, up to
    #: ``audit_wait_seconds``, then is refused) or ``fail`` (refused at once). Either way
    #: the call is refused before it runs, with a clear error: nothing happens unrecorded.
    audit_when_full: Literal["wait", "fail"] = "wait"
    #: Seconds a call may wait for room in a full audit buffer.
    audit_wait_seconds: float = 30.0
    #: A checkpoint (the chain head, signed with the service's Vault Transit key) after
    #: this many events ...
    audit_checkpoint_events: int = 10_000
    #: ... or this many seconds, whichever comes first.
    audit_checkpoint_seconds: float = 5.0
    #: File holding this component's NATS NKEY seed (``{service}`` is replaced by the
    #: service name); empty = connect without a credential (a dev NATS without auth).
    nkey_seed_file: str = ""
    #: CA certificate (PEM) that signed the NATS server's certificate: turns TLS on.
    tls_ca_file: str = ""
    #: Client certificate and key (PEM) when the NATS server asks for one (mutual TLS).
    tls_cert_file: str = ""
    tls_key_file: str = ""


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
