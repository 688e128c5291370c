"""OpenTelemetry traces: off unless configured, and then a span per request.

Tracing is on when ``MCPMESH_OTEL_ENDPOINT`` is set, or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` are (and
``OTEL_TRACES_EXPORTER`` is not ``none``). Only then is the OpenTelemetry SDK imported:
a service without tracing pays neither its memory nor its start-up time.

The app makes its tracer current for everything it starts (the bus's NATS callbacks
included) and for each HTTP request. Its chain entry opens the request's span
(:meth:`Tracing.request_span`) with the caller's context as parent: the ``traceparent`` HTTP header, or ``_meta.traceparent``
on the request (the 2026 wire carries it there; :func:`remote_parent` is the hook its
helper calls). Code below the app opens child spans with :func:`span` (upstream calls,
Vault, NATS); with tracing off that is a no-op. Across replicas the bus carries the
span in a ``traceparent`` NATS header (:func:`current_traceparent`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK is imported only when tracing is configured
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "TRACEPARENT",
    "Tracing",
    "configure_tracing",
    "current_traceparent",
    "remote_parent",
    "span",
    "tracing_endpoint",
]

TRACEPARENT = "traceparent"

#: The tracer of the app whose request is running (set by its chain entry).
CURRENT: ContextVar[Tracing | None] = ContextVar("mcpmesh_tracing", default=None)
#: The caller's W3C ``traceparent`` for the running request (header or ``_meta``).
REMOTE_PARENT: ContextVar[str | None] = ContextVar("mcpmesh_traceparent", default=None)


def tracing_endpoint(own: str = "", env: Mapping[str, str] | None = None) -> str | None:
    """The OTLP/HTTP traces endpoint configured (``own``: ``MCPMESH_OTEL_ENDPOINT``, else
    the standard variables), or None: tracing off."""
    env = os.environ if env is None else env
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    own = own.strip()
    if own:
        return own.rstrip("/") + "/v1/traces" if not own.endswith("/v1/traces") else own
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


class Tracing:
    """A service's tracer provider and the spans the library opens."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer: Tracer = provider.get_tracer("mcpmesh")
        self._propagator = TraceContextTextMapPropagator()

    @contextlib.contextmanager
    def request_span(self, name: str, attributes: Mapping[str, Any]) -> Iterator[Span]:
        """The server span of one request, child of the caller's ``traceparent`` if any."""
        from opentelemetry.trace import SpanKind

        carrier = REMOTE_PARENT.get()
        parent = self._propagator.extract({TRACEPARENT: carrier}) if carrier else None
        token = CURRENT.set(self)
        try:
            with self.tracer.start_as_current_span(
                name, context=parent, kind=SpanKind.SERVER, attributes=dict(attributes)
            ) as current:
                yield current
        finally:
            CURRENT.reset(token)

    @contextlib.contextmanager
    def child_span(
        self, name: str, attributes: Mapping[str, Any] | None, parent: str | None, kind: str
    ) -> Iterator[Span]:
        from opentelemetry import trace

        context = None
        carrier = parent
        if carrier is None and not trace.get_current_span().get_span_context().is_valid:
            carrier = REMOTE_PARENT.get()
        if carrier:
            context = self._propagator.extract({TRACEPARENT: carrier})
        with self.tracer.start_as_current_span(
            name,
            context=context,
            kind=getattr(trace.SpanKind, kind.upper()),
            attributes=dict(attributes or {}),
        ) as child:
            yield child

    def inject(self) -> dict[str, str]:
        """The current span as a ``traceparent`` header (for NATS messages)."""
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier

    def shutdown(self) -> None:
        self.provider.shutdown()


def configure_tracing(
    service: str,
    *,
    endpoint: str = "",
    exporter: SpanExporter | None = None,
    env: Mapping[str, str] | None = None,
) -> Tracing | None:
    """The service's tracing, or None when it is not configured.

    ``exporter`` (tests: an in-memory one) replaces the OTLP exporter and turns tracing
    on regardless of the environment.
    """
    url = tracing_endpoint(endpoint, env)
    if exporter is None and url is None:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"mcpmesh-{service}"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return Tracing(provider)


@contextlib.contextmanager
def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: str | None = None,
    kind: str = "internal",
) -> Iterator[Span | None]:
    """A span of the running app's tracer; nothing when tracing is off.

    Its parent: ``parent`` (a ``traceparent`` from another process, e.g. a NATS
    header), else the current span, else the caller's ``traceparent`` of the running
    HTTP request (a request that runs no service code, like an elicitation answer).
    ``kind``: ``internal``, ``client``, ``producer`` or ``consumer``.
    """
    tracing = CURRENT.get()
    if tracing is None:
        yield None
        return
    with tracing.child_span(name, attributes, parent, kind) as child:
        yield child


def remote_parent(traceparent: str | None) -> None:
    """Take the caller's trace context for the running request (the 2026 wire's ``_meta``
    helper and the HTTP layer call this before the chain runs)."""
    if traceparent:
        REMOTE_PARENT.set(traceparent)


def current_traceparent() -> dict[str, str]:
    """Headers carrying the running span to another process (empty when not tracing)."""
    tracing = CURRENT.get()
    return tracing.inject() if tracing is not None else {}
