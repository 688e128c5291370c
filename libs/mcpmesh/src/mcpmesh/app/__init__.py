"""The composition root: a service's aiohttp application, and running it until SIGTERM.

Everything that joins the layers happens here and only here: authentication (when
``MCPMESH_AUTH_ISSUERS`` is set) and its RFC 9728 metadata, the middleware chain
(authorization, the caller's credentials, audit, result redaction, the sampling policy),
the bus (when ``MCPMESH_NATS_URL`` is set), the health routes, the service's lifespan and
the secret provider's shutdown. Nothing is installed on the :class:`~mcpmesh.Service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import structlog
from aiohttp import web

from mcpmesh.app.connections import guard_connections, start_serving
from mcpmesh.app.health import add_health_routes
from mcpmesh.app.observe import Observability, observability
from mcpmesh.auth.authenticator import Authenticator as TokenAuthenticator
from mcpmesh.auth.dpop import ReplayCache
from mcpmesh.auth.metadata import metadata_paths
from mcpmesh.auth.settings import AuthSettings, exposure_warning
from mcpmesh.bus.settings import BUS_PREFIX, SAMPLING_PREFIX, BusSettings, SamplingSettings
from mcpmesh.config import ServerSettings, SettingsError, load_settings
from mcpmesh.guard.sealing import STATE_PREFIX, SealSettings, StateSealer
from mcpmesh.obs.settings import OBS_PREFIX, ObsSettings
from mcpmesh.secrets.provider import CheckpointSigner
from mcpmesh.secrets.settings import CallerCredentialSettings, service_prefix
from mcpmesh.server import middleware as entries
from mcpmesh.server.middleware import Middleware
from mcpmesh.server.service import ReadinessCheck, Service
from mcpmesh.transport.cluster import Cluster
from mcpmesh.transport.http import Authenticator, McpEndpoint
from mcpmesh.transport.sessions import SessionStore

log = structlog.get_logger("mcpmesh.app")

MCP_PATH = "/mcp"
AUTH_PREFIX = "MCPMESH_AUTH_"
ENDPOINT_KEY = web.AppKey("endpoint", McpEndpoint)
#: The app's token checker, when it built one from ``MCPMESH_AUTH_…`` (tests look at it).
AUTHENTICATOR_KEY = web.AppKey("authenticator", TokenAuthenticator)

__all__ = [
    "AUTHENTICATOR_KEY",
    "ENDPOINT_KEY",
    "MCP_PATH",
    "bind_socket",
    "create_app",
    "serve",
    "service_scopes",
    "start_serving",
]


@runtime_checkable
class _HasReadiness(Protocol):
    def readiness(self) -> Awaitable[str | None]: ...


@runtime_checkable
class _Closable(Protocol):
    async def close(self) -> None: ...


class _Wiring:
    """What the app adds around the service: chain entries, checks, things to close."""

    def __init__(self) -> None:
        self.middleware: list[Middleware] = []
        self.readiness: dict[str, ReadinessCheck] = {}
        self.cluster: Cluster | None = None
        self.closables: list[_Closable] = []
        #: The DPoP replay cache the replicas share (the bus's), else None (in memory).
        self.replay: ReplayCache | None = None


def state_sealer(seal: SealSettings, *, replicated: bool) -> StateSealer:
    """The ``requestState`` sealer. Several replicas (the bus on) without a shared key
    ring would refuse each other's retries at random: a misconfiguration, refused here."""
    if replicated and not seal.key_file:
        raise SettingsError(
            "MCPMESH_STATE_KEY_FILE is required when MCPMESH_NATS_URL is set: every replica "
            "must open the requestState the others seal (2026-07-28 multi round-trip "
            "requests). `mcpmesh up` writes one; see the library README."
        )
    try:
        return StateSealer.from_settings(seal)
    except ValueError as exc:  # KeyRingError: unreadable, malformed, readable by others
        raise SettingsError(f"MCPMESH_STATE_KEY_FILE: {exc}") from None


def _wire(
    service: Service[Any],
    bus: BusSettings,
    sampling: SamplingSettings,
    auth: AuthSettings,
    sealer: StateSealer,
) -> _Wiring:
    """The default chain (MRTR → audit → redaction → sampling policy) and the bus."""
    wiring = _Wiring()
    if bus.url:
        from mcpmesh.bus.wiring import connect_bus  # nats-py only when the bus is on

        window = auth.dpop_max_age + 2 * auth.leeway if auth.enabled else 0.0
        provider = service.secrets
        signer = provider.sign_checkpoint if isinstance(provider, CheckpointSigner) else None
        connected = connect_bus(service.name, bus, sampling, signer=signer, replay_window=window)
        wiring.middleware = [
            entries.mrtr(sealer),
            connected.audit,
            entries.redact_results,
            connected.sampling,
        ]
        wiring.readiness.update(connected.readiness)
        wiring.cluster = connected.bus
        wiring.replay = connected.replay if auth.enabled else None
    else:
        from mcpmesh.bus.policy import local_sampling

        sampling_entry, backend = local_sampling(sampling)
        wiring.middleware = [entries.mrtr(sealer), entries.redact_results, sampling_entry]
        if backend is not None:
            wiring.closables.append(backend)
    return wiring


def service_scopes(service: Service[Any]) -> list[str]:
    """Every scope the service's tools need, and its read scope (resources, prompts)."""
    scopes = {f"{service.name}:read"}
    for spec in service.tools.values():
        scopes.update(spec.scopes)
    return sorted(scopes)


def _refuse_exposure(service: Service[Any], host: str, auth: AuthSettings) -> None:
    """Secure by default: no service but a ``public`` one serves beyond loopback without
    authentication, unless the operator opted out (then loudly)."""
    if service.public:
        if exposure_warning(host, AuthSettings(allow_unauthenticated=True)) is not None:
            log.warning("public_service_without_authentication", host=host)
        return
    warning = exposure_warning(host, auth)  # SettingsError: refused
    if warning is not None:
        log.warning("UNAUTHENTICATED_EXPOSURE", warning=warning)


def _token_authenticator(
    service: Service[Any], auth: AuthSettings, replay: ReplayCache | None
) -> TokenAuthenticator:
    return TokenAuthenticator(auth, scopes=service_scopes(service), replay=replay)


def _add_metadata_routes(app: web.Application, authenticator: TokenAuthenticator) -> None:
    """RFC 9728 metadata at both well-known forms of the canonical URL, and of the local
    path too when a proxy maps the canonical path onto ``/mcp``."""
    document = authenticator.metadata_document()

    async def metadata(_request: web.Request) -> web.Response:
        return web.json_response(document, headers={"Cache-Control": "max-age=300"})

    paths = dict.fromkeys(
        [*metadata_paths(authenticator.settings.resource), *metadata_paths(MCP_PATH)]
    )
    for path in paths:
        app.router.add_get(path, metadata)


def _identity_chain(
    service: Service[Any], auth: AuthSettings, authenticator: Authenticator | None
) -> list[Middleware]:
    """What comes first in every chain: scopes (when tokens are checked) and the caller's
    view of the credentials (``MCPMESH_<SVC>_SHARED_CREDENTIALS``)."""
    prefix = service_prefix(service.name)
    shared = load_settings(CallerCredentialSettings, prefix).shared_credentials
    authenticated = authenticator is not None
    chain = [
        entries.caller_credentials(
            service.name, shared_allowed=not authenticated if shared is None else shared
        )
    ]
    refuse = getattr(authenticator, "insufficient_scope", None)
    if refuse is not None:
        chain.insert(
            0,
            entries.authorize(
                refuse, service.tools, service.name, list_all_tools=auth.list_all_tools
            ),
        )
    return chain


def create_app(
    service: Service[Any],
    settings: ServerSettings | None = None,
    store: SessionStore | None = None,
    *,
    bus: BusSettings | None = None,
    sampling: SamplingSettings | None = None,
    middleware: Sequence[Middleware] | None = None,
    authenticator: Authenticator | None = None,
    auth: AuthSettings | None = None,
    observe: Observability | None = None,
    seal: SealSettings | None = None,
) -> web.Application:
    """The service's application. ``bus``/``sampling``/``auth``/``seal`` default to
    ``MCPMESH_NATS_…``, ``MCPMESH_SAMPLING_…``, ``MCPMESH_AUTH_…`` and ``MCPMESH_STATE_…``;
    without a NATS URL it is one replica, fully in-process.

    With ``MCPMESH_AUTH_ISSUERS`` set the app checks every request's token (an
    :class:`mcpmesh.auth.Authenticator` for the service's scopes, started and closed with
    the app) and serves the RFC 9728 metadata; ``authenticator`` replaces that checker.
    Without either, a service that is not ``public`` refuses (``SettingsError``) to serve
    a non-loopback host unless ``MCPMESH_AUTH_ALLOW_UNAUTHENTICATED`` is set. With the bus
    on and no ``MCPMESH_STATE_KEY_FILE`` it refuses too (replicas must share the key).

    ``middleware`` replaces the default chain (MRTR for the 2026 wire, audit when the bus
    is on, result redaction, the sampling policy); authorization (scopes) and the caller's
    credential view always come first. ``observe`` (default from ``MCPMESH_METRICS``/
    ``MCPMESH_CALL_LOG``/tracing settings) puts ``/metrics``, the call log and the request
    span before all of them.
    """
    settings = settings or service.settings
    bus = bus if bus is not None else load_settings(BusSettings, BUS_PREFIX)
    sampling = (
        sampling if sampling is not None else load_settings(SamplingSettings, SAMPLING_PREFIX)
    )
    auth = (auth if auth is not None else load_settings(AuthSettings, AUTH_PREFIX)).checked()
    if authenticator is None:
        _refuse_exposure(service, settings.host, auth)
    seal = seal if seal is not None else load_settings(SealSettings, STATE_PREFIX)
    sealer = state_sealer(seal, replicated=bool(bus.url))
    wiring = _wire(service, bus, sampling, auth, sealer)
    checker: TokenAuthenticator | None = None
    if authenticator is None and auth.enabled:
        checker = _token_authenticator(service, auth, wiring.replay)
        authenticator = checker
    chain = [
        *_identity_chain(service, auth, authenticator),
        *(list(middleware) if middleware is not None else wiring.middleware),
    ]
    # The metadata of whichever token checker runs (the app's, or one handed in).
    documented = checker or (
        authenticator if isinstance(authenticator, TokenAuthenticator) else None
    )
    observe = observe or observability(service.name, load_settings(ObsSettings, OBS_PREFIX))
    chain = [*observe.middleware, *chain]
    authenticator = observe.authenticator(authenticator)  # counts refusals by reason
    cluster = wiring.cluster
    endpoint = McpEndpoint(
        service, settings, store, cluster, middleware=chain, authenticator=authenticator
    )
    # aiohttp enforces the body limit while reading; the endpoint turns it into 413.
    app = web.Application(client_max_size=settings.max_body_bytes)
    guard = guard_connections(app, settings)
    app[ENDPOINT_KEY] = endpoint
    if documented is not None:
        app[AUTHENTICATOR_KEY] = documented
        _add_metadata_routes(app, documented)
    app.router.add_post(MCP_PATH, guard.tracked(endpoint.handle_post))
    app.router.add_get(MCP_PATH, guard.tracked(endpoint.handle_get))
    app.router.add_delete(MCP_PATH, guard.tracked(endpoint.handle_delete))
    observe.install(app, endpoint, cluster)
    checks: dict[str, ReadinessCheck] = {**service.readiness_checks, **wiring.readiness}
    provider = service.secrets
    if isinstance(provider, _HasReadiness):

        async def vault_ready(_state: object) -> str | None:
            return await provider.readiness()

        checks["vault"] = vault_ready
    running: dict[str, Any] = {}
    add_health_routes(
        app, service.name, checks, lambda: running.get("state"), lambda: endpoint.closing
    )

    async def sweeper(app: web.Application) -> AsyncIterator[None]:
        interval = max(1.0, min(60.0, settings.session_idle_timeout / 4))

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                await endpoint.sweep_idle()

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    async def auth_lifecycle(app: web.Application) -> AsyncIterator[None]:
        if checker is not None:
            try:
                await checker.start()  # JWKS now, not on the first call
            except Exception as exc:  # the first request tries again (503 until then)
                log.warning("authorization_server_unavailable", error=str(exc))
        yield
        if checker is not None:
            await checker.aclose()

    async def bus_lifecycle(app: web.Application) -> AsyncIterator[None]:
        if cluster is not None:
            await cluster.start(endpoint)
        yield
        if cluster is not None:
            await cluster.stop()

    async def service_lifecycle(app: web.Application) -> AsyncIterator[None]:
        lifespan = contextlib.AsyncExitStack()
        # A lifespan that fails to open stops the start; one that fails to close is logged.
        running["state"] = await lifespan.enter_async_context(service.running(endpoint))
        try:
            yield
        finally:
            running.clear()
            try:
                await lifespan.aclose()
            except Exception:
                log.exception("lifespan_close_failed", service=service.name)

    async def provider_lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        # Last: after the lifespan (pools close before their leases are revoked) and after
        # the bus (the audit's final checkpoint is signed through the provider).
        for closable in [*wiring.closables, provider]:
            try:
                await closable.close()
            except Exception:
                log.exception("close_failed", what=type(closable).__name__)

    async def on_shutdown(app: web.Application) -> None:
        if cluster is not None:
            cluster.stopping_streams()  # ends the GET streams served from the bus
        await endpoint.drain(settings.shutdown_timeout)

    app.cleanup_ctx.append(provider_lifecycle)
    app.cleanup_ctx.append(auth_lifecycle)
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
    service: Service[Any],
    settings: ServerSettings | None = None,
    *,
    store: SessionStore | None = None,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    middleware: Sequence[Middleware] | None = None,
    authenticator: Authenticator | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT/SIGHUP (or ``stop``), then shut down gracefully.

    Shutdown stops accepting connections, lets in-flight calls finish for up to
    ``shutdown_timeout`` seconds, ends the SSE streams and returns.
    """
    settings = settings or service.settings
    try:
        app = create_app(
            service, settings, store, middleware=middleware, authenticator=authenticator
        )
    except SettingsError as exc:  # a dangerous or broken configuration: refuse to start
        log.error("refused_to_start", service=service.name, reason=str(exc))
        print(f"mcpmesh: {service.name} refused to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    sock = bind_socket(settings.host, settings.port)
    serving = await start_serving(app, sock, settings)
    host, port = sock.getsockname()[:2]
    url = f"http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}{MCP_PATH}"
    log.info("listening", url=url, tools=len(service.tools))
    if on_ready is not None:
        on_ready(url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGHUP too: a closed terminal must shut down gracefully, not kill mid-call.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting_down")
    await serving.stop()
    log.info("stopped")
    sys.stderr.flush()
