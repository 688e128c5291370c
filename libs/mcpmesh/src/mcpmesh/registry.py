"""Finding services: each service distribution names its factory in the
``mcpmesh.services`` entry-point group (``name = "package.module:create"``); the factory
takes the shared :class:`ServerSettings` and returns a :class:`Service`. The factory's
module may set ``DEFAULT_PORT``, the port ``mcpmesh up`` gives it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points

from mcpmesh.config import ServerSettings
from mcpmesh.server.service import Service

GROUP = "mcpmesh.services"
ServiceFactory = Callable[[ServerSettings], Service]


def available() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def load_factory(name: str) -> ServiceFactory:
    services = available()
    if name not in services:
        known = ", ".join(sorted(services)) or "none installed"
        raise LookupError(f"Unknown service {name!r} (available: {known})")
    return services[name].load()


def default_port(name: str) -> int | None:
    module = importlib.import_module(available()[name].module)
    port = getattr(module, "DEFAULT_PORT", None)
    return port if isinstance(port, int) else None
