"""NATS for the benchmarks as the mesh is deployed: :func:`start_secured_nats`, what
``mcpmesh up`` runs (:func:`mcpmesh.embedded.nats.nats_starter`). Every service connects
as its own NKEY user and gets only its permissions (:mod:`mcpmesh.bus.permissions`), the
operator creates the audit stream, and the benchmark's own reads connect as the operator
through :func:`mcpmesh.bus.connect.connect_options`, as ``mcpmesh audit`` does. So the
bus columns pay for NATS authentication and permission checks as a deployment does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from mcpmesh.bus.connect import connect_options
from mcpmesh.bus.names import token
from mcpmesh.bus.permissions import OPERATOR, Credentials
from mcpmesh.bus.settings import BusSettings
from mcpmesh.embedded.nats import NatsServer, start_secured_nats


@dataclass(frozen=True)
class DeployedNats:
    """A running nats-server with NKEY users, and how to reach it."""

    server: NatsServer
    credentials: Credentials
    prefix: str

    @property
    def url(self) -> str:
        return self.server.url

    def env(self) -> dict[str, str]:
        """What a service process needs to join (it finds its own seed by its name)."""
        return {
            "MCPMESH_NATS_URL": self.url,
            "MCPMESH_NATS_PREFIX": self.prefix,
            "MCPMESH_NATS_NKEY_SEED_FILE": self.credentials.template,
        }

    async def connect(self, name: str = OPERATOR) -> Any:
        """A NATS connection as component ``name`` (default: the operator)."""
        settings = BusSettings(
            url=self.url, prefix=self.prefix, nkey_seed_file=self.credentials.template
        )
        return await nats.connect(**connect_options(settings, token(name)), connect_timeout=10)


@contextlib.asynccontextmanager
async def deployed_nats(
    home: Path, services: list[str], prefix: str = "mcpmesh"
) -> AsyncIterator[DeployedNats]:
    """nats-server in ``home`` admitting only ``services`` and the operator (one mesh,
    ``prefix``, per server, as deployed); stopped on exit."""
    server, credentials = await start_secured_nats(home, [token(s) for s in services], prefix)
    try:
        yield DeployedNats(server, credentials, prefix)
    finally:
        await server.stop()
