"""Prometheus metrics: one registry per app, exposed at ``/metrics``.

:class:`Metrics` holds a service's counters and histograms in its own
``CollectorRegistry`` (no process-global state: two apps in one test process count
apart). The composition root creates it, puts its chain entry first and serves it.

Code below the app reaches the metrics of the request it runs in through a context
variable the chain entry sets, so a service's HTTP or database client only writes::

    with upstream("github"):
        response = await http.get(...)

and the auth code ``auth_failure("invalid_token")``. Outside a request (or with
metrics off) both cost one context-variable read and record nothing.

Gauges that describe a moment (sessions, in-flight requests, the audit queue, the
Vault leases, the NATS connection) are read at scrape time from callbacks registered
with :meth:`Metrics.gauge`: the hot path pays nothing for them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Container, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from mcpmesh.obs import tracing

__all__ = [
    "CONTENT_TYPE_LATEST",
    "CURRENT",
    "GaugeRead",
    "Metrics",
    "UpstreamCall",
    "auth_failure",
    "rate_limited",
    "upstream",
]

#: Seconds: from sub-millisecond echo calls to slow upstream queries.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

UNKNOWN_TOOL = "(unknown)"

#: What a gauge callback returns: one value, values by label tuple, or None (no sample).
GaugeRead = Callable[[], float | Mapping[tuple[str, ...], float] | None]

#: The metrics of the app whose request is running (set by its chain entry).
CURRENT: ContextVar[Metrics | None] = ContextVar("mcpmesh_metrics", default=None)


class _Gauge:
    __slots__ = ("documentation", "labels", "name", "read")

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...], read: GaugeRead):
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.read = read


class _GaugeCollector:
    """Reads the registered callbacks at scrape time; a failing one is skipped."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        service = self._metrics.service
        for gauge in self._metrics.gauges:
            try:
                value = gauge.read()
            except Exception:
                continue
            if value is None:
                continue
            family = GaugeMetricFamily(
                gauge.name, gauge.documentation, labels=["service", *gauge.labels]
            )
            if isinstance(value, Mapping):
                for labels, sample in value.items():
                    family.add_metric([service, *labels], float(sample))
            else:
                family.add_metric([service], float(value))
            yield family


class Metrics:
    """A service's metrics and the registry ``/metrics`` renders."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        # One histogram, not a counter besides it: its _count is the number of requests
        # by outcome, and the hot path updates one series.
        self.requests = Histogram(
            "mcpmesh_request_duration_seconds",
            "Requests that ran service code and their time, by method, tool and outcome "
            "(ok; error: an isError result; rejected: a JSON-RPC error; refused: auth; "
            "cancelled; failed: an unexpected exception)",
            ["service", "method", "tool", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "mcpmesh_auth_failures",
            "Requests refused by authentication or authorization, by reason",
            ["service", "reason"],
            registry=self.registry,
        )
        self.upstream_duration = Histogram(
            "mcpmesh_upstream_duration_seconds",
            "Calls to upstream APIs and backends (github, slack, postgres, vault), by outcome",
            ["service", "upstream", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limit_wait = Counter(
            "mcpmesh_upstream_rate_limit_wait_seconds",
            "Seconds spent waiting because an upstream API asked us to slow down",
            ["service", "upstream"],
            registry=self.registry,
        )
        self.gauges: list[_Gauge] = []
        #: The tool names that may become a label (the service's); others count as
        #: ``(unknown)``, so a client cannot grow the series without bound.
        self.known_tools: Container[str] = ()
        self.registry.register(_GaugeCollector(self))
        # labels() takes a lock and builds a tuple each time: keep the children.
        self._request_children: dict[tuple[str, str, str], Any] = {}

    def gauge(
        self, name: str, documentation: str, read: GaugeRead, labels: tuple[str, ...] = ()
    ) -> None:
        """Register a gauge read at scrape time (``service`` is added as the first label).

        ``read`` returns the value, a mapping of label values to values, or None.
        """
        self.gauges.append(_Gauge(name, documentation, labels, read))

    def observe_request(self, method: str, tool: str, outcome: str, seconds: float) -> None:
        if tool and tool not in self.known_tools:
            tool = UNKNOWN_TOOL
        key = (method, tool, outcome)
        child = self._request_children.get(key)
        if child is None:
            child = self.requests.labels(self.service, method, tool, outcome)
            self._request_children[key] = child
        child.observe(seconds)

    def observe_upstream(self, name: str, outcome: str, seconds: float) -> None:
        self.upstream_duration.labels(self.service, name, outcome).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format of everything registered."""
        return generate_latest(self.registry)


class UpstreamCall:
    """What :func:`upstream` yields: set ``outcome`` (e.g. ``http_4xx``) when the call
    returned but did not succeed; an exception sets it to its class name."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome = "ok"


@contextlib.contextmanager
def upstream(name: str) -> Iterator[UpstreamCall]:
    """Time one call to an upstream (``github``, ``slack``, ``postgres``, ``vault``…).

    Recorded in the running request's metrics (outcome ``ok``, what the caller set, or
    the exception's class) and, when tracing is on, as a child span of the request's.
    """
    metrics = CURRENT.get()
    call = UpstreamCall()
    with tracing.span(f"upstream {name}", {"mcpmesh.upstream": name}) as span:
        started = time.perf_counter()
        try:
            yield call
        except BaseException as exc:
            call.outcome = type(exc).__name__
            raise
        finally:
            if metrics is not None:
                metrics.observe_upstream(name, call.outcome, time.perf_counter() - started)
            if span is not None and call.outcome != "ok":
                span.set_attribute("error.type", call.outcome)


def rate_limited(name: str, seconds: float) -> None:
    """Count ``seconds`` an upstream's rate limit made the running request wait."""
    metrics = CURRENT.get()
    if metrics is not None and seconds > 0:
        metrics.rate_limit_wait.labels(metrics.service, name).inc(seconds)


def auth_failure(reason: str) -> None:
    """Count one refused request (``missing_token``, ``invalid_token``,
    ``insufficient_scope``, ``session_mismatch``…) in the running app's metrics."""
    metrics = CURRENT.get()
    if metrics is not None:
        metrics.auth_failures.labels(metrics.service, reason).inc()
