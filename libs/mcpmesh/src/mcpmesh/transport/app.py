"""The aiohttp application of a service, and running it until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from mcpmesh.bus.settings import BUS_PREFIX, SAMPLING_PREFIX, BusSettings, SamplingSettings
from mcpmesh.config import ServerSettings, load_settings
from mcpmesh.obs.health import add_health_routes
from mcpmesh.server.service import Service
from mcpmesh.transport.http import McpEndpoint
from mcpmesh.transport.sessions import SessionStore

log = structlog.get_logger("mcpmesh.app")

MCP_PATH = "/mcp"
ENDPOINT_KEY = web.AppKey("endpoint", McpEndpoint)


def create_app(
    service: Service,
    settings: ServerSettings | None = None,
    store: SessionStore | None = None,
    *,
    bus: BusSettings | None = None,
    sampling: SamplingSettings | None = None,
) -> web.Application:
    """The service's application. ``bus``/``sampling`` default to ``MCPMESH_NATS_…`` and
    ``MCPMESH_SAMPLING_…``; without a NATS URL it is one replica, fully in-process."""
    settings = settings or service.settings
    bus = bus if bus is not None else load_settings(BusSettings, BUS_PREFIX)
    sampling = (
        sampling if sampling is not None else load_settings(SamplingSettings, SAMPLING_PREFIX)
    )
    cluster = None
    if bus.url:
        from mcpmesh.bus.wiring import attach_bus

        cluster = attach_bus(service, bus, sampling)
    else:
        from mcpmesh.bus.policy import attach_local

        attach_local(service, sampling)
    endpoint = McpEndpoint(service, settings, store, cluster)
    # aiohttp enforces the body limit while reading; the endpoint turns it into 413.
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[ENDPOINT_KEY] = endpoint
    app.router.add_post(MCP_PATH, endpoint.handle_post)
    app.router.add_get(MCP_PATH, endpoint.handle_get)
    app.router.add_delete(MCP_PATH, endpoint.handle_delete)
    add_health_routes(app, service, endpoint)

    async def sweeper(app: web.Application) -> AsyncIterator[None]:
        interval = max(1.0, min(60.0, settings.session_idle_timeout / 4))

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                await endpoint.sweep_idle()

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    async def bus_lifecycle(app: web.Application) -> AsyncIterator[None]:
        if cluster is not None:
            await cluster.start(endpoint)
        yield
        if cluster is not None:
            await cluster.stop()

    async def service_lifecycle(app: web.Application) -> AsyncIterator[None]:
        for hook in service.on_startup:
            await hook(service)
        yield
        for hook in reversed(service.on_shutdown):
            try:
                await hook(service)
            except Exception:
                log.exception("shutdown_hook_failed", hook=getattr(hook, "__name__", repr(hook)))

    async def on_shutdown(app: web.Application) -> None:
        if cluster is not None:
            cluster.stopping.set()  # ends the GET streams served from the bus
        await endpoint.drain(settings.shutdown_timeout)

    app.cleanup_ctx.append(bus_lifecycle)
    app.cleanup_ctx.append(service_lifecycle)
    app.cleanup_ctx.append(sweeper)
    app.on_shutdown.append(on_shutdown)
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket with TCP_NODELAY (accepted sockets inherit it on Linux)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(info[4])
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve(
    service: Service,
    settings: ServerSettings | None = None,
    *,
    store: SessionStore | None = None,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or ``stop``), then shut down gracefully.

    Shutdown stops accepting connections, lets in-flight calls finish for up to
    ``shutdown_timeout`` seconds, ends the SSE streams and returns.
    """
    settings = settings or service.settings
    app = create_app(service, settings, store)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=settings.shutdown_timeout
    )
    await runner.setup()
    sock = bind_socket(settings.host, settings.port)
    site = web.SockSite(runner, sock)
    await site.start()
    host, port = sock.getsockname()[:2]
    url = f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}{MCP_PATH}"
    log.info("listening", url=url, tools=len(service.tools))
    if on_ready is not None:
        on_ready(url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting_down")
    await runner.cleanup()
    log.info("stopped")
    sys.stderr.flush()
