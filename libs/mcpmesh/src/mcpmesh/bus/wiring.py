"""Wiring a service to the bus (or, without NATS, to the in-process equivalents)."""

from __future__ import annotations

import asyncio

import structlog

from mcpmesh.bus.audit import Auditor, ensure_audit_stream, stream_config
from mcpmesh.bus.cluster import Bus
from mcpmesh.bus.names import rate_bucket, token
from mcpmesh.bus.policy import MemoryRateLimiter, SamplingPolicy, llm_backend
from mcpmesh.bus.sampling import BusSampler, KvRateLimiter, SamplingBroker
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.server.service import Service

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


def attach_bus(service: Service, settings: BusSettings, sampling: SamplingSettings) -> Bus:
    """Shared sessions, routing, audit, the sampling broker and policy on NATS."""
    bus = Bus(service.name, settings)
    auditor = Auditor(
        bus.nc,
        bus.prefix,
        token(service.name),
        bus.replica_id,
        raw_arguments=settings.audit_raw_arguments,
        buffer=settings.audit_buffer,
        when_full=settings.audit_when_full,
        wait_seconds=settings.audit_wait_seconds,
        timeout=settings.request_timeout,
        checkpoint_events=settings.audit_checkpoint_events,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
        signer=getattr(service.secrets, "sign_checkpoint", None),
    )
    service.audit_gates.append(auditor.admit)
    service.audit_hooks.append(auditor.record)
    limiter = SharedRateLimiter(sampling, settings.request_timeout)
    service.sampling_policy = SamplingPolicy(sampling, limiter)
    if service.sampling_fallback is None:
        service.sampling_fallback = BusSampler(
            bus.nc, bus.prefix, service.name, sampling.llm_timeout + settings.request_timeout
        )
    service.readiness_checks["nats"] = bus.readiness
    backend = llm_backend(sampling) if sampling.broker else None

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
            bucket=rate_bucket(bus.prefix, service.name), ttl=sampling.rate_window * 2, history=1
        )
        limiter.shared = KvRateLimiter(kv, sampling.rate_limit, sampling.rate_window)
        if backend is not None:
            await SamplingBroker(bus.nc, bus.prefix, backend, sampling.max_tokens).start()
            log.info("sampling_broker_started", api=sampling.llm_api)

    async def on_stop() -> None:
        await auditor.stop()
        if backend is not None:
            await backend.close()

    bus.on_ready.append(on_ready)
    bus.on_stop.append(on_stop)
    bus.auditor = auditor  # type: ignore[attr-defined]
    return bus
