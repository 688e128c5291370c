"""What the composition root adds so operators can see a service: ``/metrics``, the
per-call log line and the request span, as chain entries plus one route.

The entries go first in the chain (outermost), so they see every outcome, including
a refusal by an authorization entry further in. Each is optional
(:class:`~mcpmesh.obs.settings.ObsSettings`); off, it is not in the chain at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from mcpmesh.auth.principal import AuthError, Principal
from mcpmesh.obs import tracing as tracing_mod
from mcpmesh.obs.metrics import CONTENT_TYPE_LATEST, CURRENT, Metrics
from mcpmesh.obs.settings import ObsSettings
from mcpmesh.obs.tracing import CURRENT as TRACING
from mcpmesh.obs.tracing import REMOTE_PARENT, TRACEPARENT, Tracing, configure_tracing
from mcpmesh.protocol.errors import McpError
from mcpmesh.server.context import Context
from mcpmesh.server.middleware import CallNext, Middleware
from mcpmesh.transport.cluster import Cluster
from mcpmesh.transport.http import Authenticator, McpEndpoint

METRICS_PATH = "/metrics"
METRICS_KEY = web.AppKey("metrics", Metrics)
_ERROR_PARAM = re.compile(r'error="([a-z_]+)"')


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, AuthError):
        return "refused"
    if isinstance(exc, McpError):
        return "rejected"
    return "failed"


def auth_reason(exc: AuthError) -> str:
    """The RFC 6750 ``error`` of the challenge (``invalid_token``, ``insufficient_scope``…);
    ``missing_token`` for a bare 401 challenge."""
    found = _ERROR_PARAM.search(exc.www_authenticate)
    if found:
        return found.group(1)
    return "missing_token" if exc.status == 401 else f"http_{exc.status}"


def observe_calls(metrics: Metrics | None, log: bool) -> Middleware:
    """Requests by method, tool and outcome with their latency (``metrics``), and one log
    line per tool call (``log``): tool, principal, outcome, milliseconds, error class.

    One entry for both, so the hot path pays one frame and one pair of clock reads. The
    logger is bound when the chain is built (after ``configure_logging``); below its
    level no line is built at all.
    """
    logger = structlog.get_logger("mcpmesh.calls").bind()
    log = log and logger.is_enabled_for(logging.INFO)
    if metrics is None and not log:
        return _passthrough

    async def entry(ctx: Context[Any], call_next: CallNext) -> Any:
        token = CURRENT.set(metrics)  # upstream() and auth_failure() below find it
        started = time.perf_counter()
        outcome, error = "failed", None
        try:
            result = await call_next(ctx)
            outcome = "error" if getattr(result, "is_error", False) else "ok"
            return result
        except BaseException as exc:
            outcome, error = _outcome(exc), type(exc).__name__
            if metrics is not None and isinstance(exc, AuthError):
                metrics.auth_failures.labels(metrics.service, auth_reason(exc)).inc()
            raise
        finally:
            CURRENT.reset(token)
            seconds = time.perf_counter() - started
            if metrics is not None:
                metrics.observe_request(ctx.method, ctx.tool or "", outcome, seconds)
            if log and ctx.method == "tools/call":
                logger.info(
                    "call",
                    tool=(ctx.tool or "")[:100],
                    principal=ctx.principal.key if ctx.principal is not None else None,
                    outcome=outcome,
                    ms=round(seconds * 1000, 2),
                    error=error,
                )

    return entry


async def _passthrough(ctx: Context[Any], call_next: CallNext) -> Any:
    return await call_next(ctx)


def session_digest(session_id: str) -> str:
    """A session id that may go to a trace backend: its SHA-256, shortened."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


def trace_requests(tracing: Tracing) -> Middleware:
    """A server span per request, with the MCP attributes, child of the caller's trace."""

    async def entry(ctx: Context[Any], call_next: CallNext) -> Any:
        meta = getattr(ctx.params, "meta", None)
        tracing_mod.remote_parent(getattr(meta, "traceparent", None))
        attributes: dict[str, Any] = {
            "mcp.method.name": ctx.method,
            "mcp.session.id": session_digest(ctx.session.id),
        }
        if ctx.tool is not None:
            attributes["gen_ai.tool.name"] = ctx.tool
        if ctx.principal is not None:
            attributes["enduser.id"] = ctx.principal.key
        name = f"{ctx.method} {ctx.tool}" if ctx.tool else ctx.method
        with tracing.request_span(name, attributes) as current:
            try:
                result = await call_next(ctx)
            except BaseException as exc:
                current.set_attribute("mcpmesh.outcome", _outcome(exc))
                current.set_attribute("error.type", type(exc).__name__)
                raise
            if getattr(result, "is_error", False):
                current.set_attribute("mcpmesh.outcome", "error")
                current.set_attribute("error.type", "tool_error")
            return result

    return entry


def _traceparent_header(tracing: Tracing) -> Any:
    @web.middleware
    async def take(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Set for every request: one connection's requests share a task, and its context.
        TRACING.set(tracing)
        REMOTE_PARENT.set(request.headers.get(TRACEPARENT))
        return await handler(request)

    return take


def count_auth_failures(authenticator: Authenticator, metrics: Metrics) -> Authenticator:
    """The authenticator, its refusals counted by reason."""

    async def counted(request: web.Request) -> Principal | None:
        CURRENT.set(metrics)  # later refusals in this request (session binding) count too
        try:
            return await authenticator(request)
        except AuthError as exc:
            metrics.auth_failures.labels(metrics.service, auth_reason(exc)).inc()
            raise

    return counted


@dataclass
class Observability:
    """The chain entries, the metrics and the tracer of one app."""

    settings: ObsSettings
    metrics: Metrics | None
    tracing: Tracing | None
    middleware: list[Middleware] = field(default_factory=list)

    def authenticator(self, authenticator: Authenticator | None) -> Authenticator | None:
        if authenticator is None or self.metrics is None:
            return authenticator
        return count_auth_failures(authenticator, self.metrics)

    def install(self, app: web.Application, endpoint: McpEndpoint, cluster: Cluster | None):
        """The ``/metrics`` route and its scrape-time gauges; the header hook for traces."""
        if self.tracing is not None:
            tracing = self.tracing
            app.middlewares.append(_traceparent_header(tracing))
            # What the app starts from here on (the bus's connection and its callbacks)
            # runs in this context, so a span opened there finds the tracer.
            TRACING.set(tracing)

            async def flush(app: web.Application) -> None:
                tracing.shutdown()

            app.on_cleanup.append(flush)
        if self.metrics is None:
            return
        metrics = self.metrics
        metrics.known_tools = endpoint.service.tools
        app[METRICS_KEY] = metrics
        register_gauges(metrics, endpoint, cluster)

        async def scrape(request: web.Request) -> web.Response:
            response = web.Response(body=metrics.render())
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response

        app.router.add_get(METRICS_PATH, scrape)


def observability(service_name: str, settings: ObsSettings) -> Observability:
    metrics = Metrics(service_name) if settings.metrics else None
    tracing = configure_tracing(service_name, endpoint=settings.otel_endpoint)
    return with_parts(settings, metrics, tracing)


def with_parts(settings: ObsSettings, metrics: Metrics | None, tracing: Tracing | None):
    """The entries for these parts, outermost first: the span, then calls (metrics, log)."""
    chain: list[Middleware] = []
    if tracing is not None:
        chain.append(trace_requests(tracing))
    if metrics is not None or settings.call_log:
        calls = observe_calls(metrics, settings.call_log)
        if calls is not _passthrough:
            chain.append(calls)
    return Observability(settings, metrics, tracing, chain)


def register_gauges(metrics: Metrics, endpoint: McpEndpoint, cluster: Cluster | None) -> None:
    """Sessions, in-flight requests, the bus and its audit queue, the Vault leases."""
    metrics.gauge(
        "mcpmesh_sessions", "Sessions this replica holds in memory", lambda: len(endpoint.runtimes)
    )
    metrics.gauge(
        "mcpmesh_requests_in_flight",
        "Requests this replica is running",
        lambda: sum(len(runtime.inflight) for runtime in endpoint.runtimes.values()),
    )
    provider = endpoint.service.secrets
    leases = getattr(provider, "lease_seconds_left", None)
    if callable(leases):
        metrics.gauge(
            "mcpmesh_vault_lease_seconds_left",
            "Seconds until each dynamic credential's Vault lease expires, by role",
            lambda: {(role,): left for role, left in leases().items()},
            labels=("role",),
        )
    if cluster is None:
        return
    nc = getattr(cluster, "nc", None)
    if nc is not None:
        metrics.gauge(
            "mcpmesh_nats_connected",
            "1 while the NATS connection is up",
            lambda: 1.0 if nc.is_connected else 0.0,
        )
    auditor = getattr(cluster, "auditor", None)
    if auditor is not None:
        metrics.gauge(
            "mcpmesh_audit_queue_depth",
            "Audit events queued, not yet published",
            lambda: auditor.queue.qsize(),
        )
        metrics.gauge(
            "mcpmesh_audit_dropped_pending",
            "Audit events dropped (queue full) not yet reported on the stream",
            lambda: auditor.dropped,
        )
        # Read when the auditor has them (a cumulative ``lost`` count, ``lag_seconds()``).
        if hasattr(auditor, "lost"):
            metrics.gauge(
                "mcpmesh_audit_lost",
                "Audit events lost since start (queue full or never published)",
                lambda: auditor.lost,
            )
        if callable(getattr(auditor, "lag_seconds", None)):
            metrics.gauge(
                "mcpmesh_audit_lag_seconds",
                "Age of the oldest audit event not yet published",
                auditor.lag_seconds,
            )
