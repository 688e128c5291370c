"""The NATS event bus: any replica serves any session, sampling over the bus, audit.

:func:`~mcpmesh.bus.wiring.connect_bus` wires one service to NATS when ``MCPMESH_NATS_URL`` is set: session
state in a JetStream KV bucket, cross-replica routing (:mod:`mcpmesh.bus.cluster`), the
audit stream (:mod:`mcpmesh.bus.audit`) and the sampling broker
(:mod:`mcpmesh.bus.sampling`). Without a URL nothing here runs and the service is one
replica, fully in-process.
"""

from __future__ import annotations

from mcpmesh.bus.settings import BUS_PREFIX, SAMPLING_PREFIX, BusSettings, SamplingSettings

__all__ = ["BUS_PREFIX", "SAMPLING_PREFIX", "BusSettings", "SamplingSettings"]
