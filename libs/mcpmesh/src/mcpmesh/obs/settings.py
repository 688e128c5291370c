"""What a service measures and reports about itself (prefix ``MCPMESH_``)."""

from __future__ import annotations

import msgspec

OBS_PREFIX = "MCPMESH_"


class ObsSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Metrics, the per-call log line and traces."""

    #: Serve Prometheus metrics at ``/metrics`` (calls, latency, sessions, auth, upstreams).
    metrics: bool = True
    #: One log line per tool call: tool, principal, outcome, duration, error class.
    call_log: bool = True
    #: OTLP/HTTP endpoint for traces, e.g. ``http://otel-collector:4318``; empty: the
    #: standard ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``, and without those tracing is off.
    otel_endpoint: str = ""
