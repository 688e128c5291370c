"""``/healthz`` (the process answers) and ``/readyz`` (it can do its job now)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from mcpmesh.server.service import ReadinessCheck

_CHECK_TIMEOUT = 2.0


def add_health_routes(
    app: web.Application,
    name: str,
    checks: Mapping[str, ReadinessCheck],
    state: Callable[[], Any],
    closing: Callable[[], bool],
) -> None:
    """``checks`` get the running state (``state()``); ``closing()`` is true once
    shutdown began."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": name})

    async def readyz(request: web.Request) -> web.Response:
        problems: dict[str, str] = {}
        if closing():
            problems["shutdown"] = "the service is shutting down"
        for check_name, check in checks.items():
            try:
                problem = await asyncio.wait_for(check(state()), _CHECK_TIMEOUT)
            except TimeoutError:
                problem = f"no answer within {_CHECK_TIMEOUT:g} s"
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                problems[check_name] = problem
        status = 503 if problems else 200
        body: dict[str, Any] = {
            "status": "unavailable" if problems else "ready",
            "service": name,
        }
        if problems:
            body["problems"] = problems
        return web.json_response(body, status=status)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
