"""Wiring a service to the bus: what the composition root adds to the app with NATS on.

:func:`connect_bus` returns the pieces (:class:`BusWiring`); the app puts the middleware
in its chain, the readiness check on ``/readyz`` and starts/stops the bus. Nothing here
touches the :class:`~mcpmesh.Service`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog

from mcpmesh.bus.audit import Auditor, Signer, ensure_audit_stream, stream_config
from mcpmesh.bus.cluster import Bus
from mcpmesh.bus.names import rate_bucket, replay_bucket, token
from mcpmesh.bus.policy import MemoryRateLimiter, SamplingPolicy, llm_backend
from mcpmesh.bus.replay import KvReplayCache
from mcpmesh.bus.sampling import BusSampler, KvRateLimiter, SamplingBroker
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.server import middleware
from mcpmesh.server.middleware import Middleware
from mcpmesh.server.service import ReadinessCheck

log = structlog.get_logger("mcpmesh.bus")


class SharedRateLimiter:
    """The KV limiter once the bus is up; this replica's own count while it is not."""

    def __init__(self, settings: SamplingSettings, timeout: float) -> None:
        self.local = MemoryRateLimiter(settings.rate_limit, settings.rate_window)
        self.shared: KvRateLimiter | None = None
        self.timeout = timeout

    async def allow(self, key: str) -> tuple[bool, float]:
        if self.shared is not None:
            try:
                return await asyncio.wait_for(self.shared.allow(key), self.timeout)
            except Exception as exc:
                log.warning("rate_limit_store_unavailable", error=type(exc).__name__)
        return await self.local.allow(key)


@dataclass(frozen=True)
class BusWiring:
    """The bus (the endpoint's ``Cluster``), its chain entries and its readiness check."""

    bus: Bus
    #: Chain entry: every tool call, sampling request and elicitation to the audit stream.
    audit: Middleware
    #: Chain entry: the sampling policy (shared rate limit) and the broker as fallback.
    sampling: Middleware
    #: The DPoP ``jti`` replay cache all replicas share (the authenticator uses it).
    replay: KvReplayCache
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)


def connect_bus(
    service_name: str,
    settings: BusSettings,
    sampling: SamplingSettings,
    *,
    signer: Signer | None = None,
    replay_window: float = 0.0,
) -> BusWiring:
    """Shared sessions, routing, audit, the sampling broker and policy on NATS;
    ``signer`` signs the audit checkpoints (the service's Vault Transit key), and with a
    ``replay_window`` (seconds a DPoP proof is acceptable) the shared replay cache."""
    bus = Bus(service_name, settings)
    auditor = Auditor(
        bus.nc,
        bus.prefix,
        token(service_name),
        bus.replica_id,
        raw_arguments=settings.audit_raw_arguments,
        buffer=settings.audit_buffer,
        when_full=settings.audit_when_full,
        wait_seconds=settings.audit_wait_seconds,
        timeout=settings.request_timeout,
        checkpoint_events=settings.audit_checkpoint_events,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
        signer=signer,
    )
    limiter = SharedRateLimiter(sampling, settings.request_timeout)
    sampler = BusSampler(
        bus.nc, bus.prefix, service_name, sampling.llm_timeout + settings.request_timeout
    )

    async def nats_ready(_state: object) -> str | None:
        return await bus.readiness()

    backend = llm_backend(sampling) if sampling.broker else None
    replay = KvReplayCache(settings.request_timeout)

    async def on_ready() -> None:
        js = bus.nc.jetstream(timeout=settings.request_timeout)
        # Publishing starts at once: until the stream exists events wait in the buffer.
        auditor.start()
        audit = stream_config(bus.prefix, settings.audit_max_events, settings.audit_max_age_days)
        try:
            await ensure_audit_stream(js, audit)
        except Exception as exc:  # with NATS authentication only the operator may
            log.error(
                "audit_stream_missing",
                stream=audit.name,
                problem=f"{type(exc).__name__}: {exc}",
                fix="`mcpmesh audit init` (operator); until then events wait in the buffer",
            )
        kv = await js.create_key_value(
            bucket=rate_bucket(bus.prefix, service_name), ttl=sampling.rate_window * 2, history=1
        )
        limiter.shared = KvRateLimiter(kv, sampling.rate_limit, sampling.rate_window)
        if replay_window > 0:
            replay.kv = await js.create_key_value(
                bucket=replay_bucket(bus.prefix, service_name), ttl=replay_window, history=1
            )
        if backend is not None:
            await SamplingBroker(bus.nc, bus.prefix, backend, sampling.max_tokens).start()
            log.info("sampling_broker_started", api=sampling.llm_api)

    async def on_stop() -> None:
        await auditor.stop()
        if backend is not None:
            await backend.close()

    bus.on_ready.append(on_ready)
    bus.on_stop.append(on_stop)
    bus.auditor = auditor
    return BusWiring(
        bus,
        audit=middleware.audit(auditor.record, admit=auditor.admit),
        sampling=middleware.sampling(SamplingPolicy(sampling, limiter), sampler),
        replay=replay,
        readiness={"nats": nats_ready},
    )
