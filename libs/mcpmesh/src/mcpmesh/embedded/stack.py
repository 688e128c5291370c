"""The backends ``mcpmesh up`` starts before the services, and what services learn of them.

Each backend is a :class:`Backend`: started in a work directory, it returns the
environment variables (``MCPMESH_…``) that point services at it, and stops cleanly.
Add a backend by appending its starter to :data:`STARTERS` (order matters: later ones
may read the environment of earlier ones, e.g. Vault's bootstrap needs Postgres).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from mcpmesh.embedded.nats import nats_starter
from mcpmesh.embedded.postgres import postgres_starter
from mcpmesh.embedded.vault import vault_starter


class Backend(Protocol):
    name: str

    async def stop(self) -> None: ...


#: ``async (workdir, env_so_far) -> (backend, env_additions)``
Starter = Callable[[Path, dict[str, str]], Awaitable[tuple[Backend, dict[str, str]]]]

STARTERS: list[Starter] = []
# PostgreSQL first: Vault's database secrets engine needs MCPMESH_PG_ADMIN_DSN.
STARTERS.insert(0, postgres_starter)
# Vault after PostgreSQL: its bootstrap configures the database engine from the admin DSN.
STARTERS.append(vault_starter)
# NATS with JetStream: the event bus (sessions, routing, sampling, audit).
STARTERS.append(nats_starter)


class Stack:
    """Running backends, stopped in reverse order."""

    def __init__(self) -> None:
        self.backends: list[Backend] = []
        self.env: dict[str, str] = {}

    async def start(self, workdir: Path, starters: list[Starter] | None = None) -> None:
        for starter in STARTERS if starters is None else starters:
            backend, env = await starter(workdir, dict(self.env))
            self.backends.append(backend)
            self.env.update(env)

    async def stop(self) -> None:
        for backend in reversed(self.backends):
            with contextlib.suppress(Exception):
                await backend.stop()
        self.backends.clear()
