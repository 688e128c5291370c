"""The MCP endpoint: POST, GET and DELETE on one path, per MCP 2025-11-25.

A POST carrying a request is answered with plain JSON when the handler sends nothing
before its result (the fast, common case), and switches to an SSE stream the moment the
handler emits a notification or a server→client request. Checks run in the order the
spec implies: Origin/Host (403), media types (415/406), body size (413), framing
(400), session (400/404), protocol version header (400).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import Any, cast

import msgspec
import structlog
from aiohttp import web

from mcpmesh.auth.principal import AuthError, Principal
from mcpmesh.config import ServerSettings
from mcpmesh.obs.logging import bind_request
from mcpmesh.protocol import versions
from mcpmesh.protocol.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    REQUEST_CANCELLED,
    McpError,
)
from mcpmesh.protocol.jsonrpc import (
    ErrorObject,
    Message,
    RequestId,
    decode_message,
    decode_params,
    encode_error,
    encode_notification,
    encode_request,
    encode_result,
)
from mcpmesh.protocol.session import SessionState
from mcpmesh.protocol.types import CancelledParams, InitializeParams
from mcpmesh.server.middleware import Middleware, compose
from mcpmesh.server.service import Service
from mcpmesh.transport import stateless
from mcpmesh.transport.cluster import Cluster, ClusterUnavailable
from mcpmesh.transport.hosts import host_name, origin_host
from mcpmesh.transport.sessions import (
    MemorySessionStore,
    SessionRuntime,
    SessionStore,
    new_session_id,
)
from mcpmesh.transport.sse import SSE_HEADERS, ResumeError, Stream, parse_event_id

log = structlog.get_logger("mcpmesh.transport")

SESSION_HEADER = "Mcp-Session-Id"
VERSION_HEADER = "MCP-Protocol-Version"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_KEEPALIVE_SECONDS = 25.0


#: Who is calling: ``async (request) -> Principal | None``; raises AuthError to refuse.
Authenticator = Callable[[web.Request], Awaitable[Principal | None]]
_PRINCIPAL_KEY = web.RequestKey("principal", Principal)


def auth_error_response(exc: AuthError) -> web.Response:
    """A refused token: the status and challenge the authenticator chose."""
    response = error_response(exc.status, INVALID_REQUEST, exc.message)
    response.headers["WWW-Authenticate"] = exc.www_authenticate
    return response


def unavailable_response(exc: ClusterUnavailable) -> web.Response:
    """The bus is down: say so, and when to try again (nothing waits for it)."""
    response = error_response(503, INTERNAL_ERROR, str(exc))
    response.headers["Retry-After"] = "1"
    return response


def error_response(status: int, code: int, message: str) -> web.Response:
    """An HTTP error whose body is a JSON-RPC error without id, as the spec allows."""
    return web.Response(
        status=status, body=encode_error(None, code, message), content_type="application/json"
    )


def _too_slow(seconds: float) -> web.Response:
    """408 for a body still arriving after ``seconds``; the connection is closed."""
    response = error_response(
        408, INVALID_REQUEST, f"Request body not received within {seconds:g} seconds"
    )
    response.force_close()
    return response


def _session_not_found() -> web.Response:
    return error_response(
        404, INVALID_REQUEST, "Session not found: it ended or never existed; initialize again"
    )


@functools.lru_cache(maxsize=256)  # a pure function of one header, asked on every request
def _accepts(accept: str, media_type: str) -> bool:
    major = media_type.split("/", 1)[0]
    for item in accept.split(","):
        value = item.split(";", 1)[0].strip().lower()
        if value in (media_type, "*/*", f"{major}/*"):
            return True
    return False


class _Mode(Enum):
    UNDECIDED = 0
    SSE = 1
    DETACHED = 2


class RequestChannel:
    """Where one request's messages go: its JSON response, or its SSE stream."""

    __slots__ = (
        "_endpoint",
        "_http",
        "mode",
        "payload",
        "refusal",
        "request_id",
        "response",
        "runtime",
        "stream",
    )

    def __init__(
        self,
        endpoint: McpEndpoint,
        runtime: SessionRuntime,
        http: web.Request,
        request_id: object = None,
    ) -> None:
        self._endpoint = endpoint
        self._http = http
        self.request_id = request_id
        self.runtime = runtime
        self.mode = _Mode.UNDECIDED
        self.stream: Stream | None = None
        self.response: web.StreamResponse | None = None
        self.payload: bytes | None = None
        #: A middleware refused the caller: answered with its HTTP status, not JSON-RPC.
        self.refusal: AuthError | None = None

    async def _open_stream(self) -> Stream:
        stream = self.runtime.new_stream()
        stream.request_id = self.request_id
        cluster = self._endpoint.cluster
        if cluster is not None:
            cluster.attach(stream, self.runtime.id)
        response = web.StreamResponse(
            status=200, headers={**SSE_HEADERS, SESSION_HEADER: self.runtime.id}
        )
        # The handler runs in the request's own task: a stream it closes early (polling)
        # ends the response while it keeps working, so the connection must not carry
        # the client's next request meanwhile. Only streamed answers pay a new connection.
        response.force_close()
        await response.prepare(self._http)
        self.response, self.stream, self.mode = response, stream, _Mode.SSE
        stream.attach(response)
        if versions.sends_sse_priming_event(self.runtime.state.protocol_version):
            await stream.prime(self._endpoint.settings.sse_retry_ms)
        return stream

    async def send(self, payload: bytes) -> None:
        stream = self.stream if self.stream is not None else await self._open_stream()
        await stream.send(payload)

    async def notify(self, method: str, params: Any) -> None:
        await self.send(encode_notification(method, params))

    async def request(self, method: str, params: Any, timeout: float) -> msgspec.Raw:
        runtime = self.runtime
        request_id = runtime.new_request_id()
        future: asyncio.Future[msgspec.Raw] = asyncio.get_running_loop().create_future()
        runtime.pending[request_id] = future
        try:
            await self.send(encode_request(request_id, method, params))
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                await self.notify(
                    "notifications/cancelled",
                    CancelledParams(request_id=request_id, reason="timed out"),
                )
                raise
        finally:
            runtime.pending.pop(request_id, None)

    async def close_stream(self) -> None:
        stream = self.stream if self.stream is not None else await self._open_stream()
        if self.mode is not _Mode.SSE:
            return
        self.mode = _Mode.DETACHED
        stream.detach()
        response = self.response
        assert response is not None
        # Tell the client when to come back for the rest (GET + Last-Event-ID), and end
        # this response now; the handler goes on, its messages kept for the GET.
        await response.write(b"retry: %d\n\n" % self._endpoint.settings.sse_retry_ms)
        await response.write_eof()

    async def finish(self, payload: bytes | None) -> None:
        """The request's last message (``None``: cancelled, nothing to send)."""
        if self.mode is _Mode.UNDECIDED:
            self.payload = payload
        elif self.stream is not None:
            if payload is not None:
                await self.stream.send(payload)
            await self.stream.end()


class McpEndpoint:
    """Serves one :class:`Service` over Streamable HTTP.

    ``middleware`` is the chain around every request that runs service code (built by
    the app); ``authenticator`` runs first on every POST, GET and DELETE.
    """

    def __init__(
        self,
        service: Service[Any],
        settings: ServerSettings | None = None,
        store: SessionStore | None = None,
        cluster: Cluster | None = None,
        *,
        middleware: Sequence[Middleware] = (),
        authenticator: Authenticator | None = None,
    ) -> None:
        self.service = service
        self.authenticator = authenticator
        self._chain = compose(middleware, service.dispatch)
        self.settings = settings or service.settings
        #: Other replicas of this service (the bus); ``None``: this process is the only one.
        self.cluster = cluster
        self.store: SessionStore = (
            cluster.store if cluster is not None else store or MemorySessionStore()
        )
        self.runtimes: OrderedDict[str, SessionRuntime] = OrderedDict()
        #: ``subscriptions/listen`` streams open here (2026 wire).
        self.listeners = stateless.Listeners()
        #: The 2026 requests in flight, cancelled when their client hangs up.
        self.disconnects = stateless.DisconnectWatch()
        self.closing = False
        self._allowed_hosts = _LOCAL_HOSTS | {h.lower() for h in self.settings.allowed_hosts}
        self._allow_any_host = "*" in self.settings.allowed_hosts
        self._allowed_origins = {o.lower().rstrip("/") for o in self.settings.allowed_origins}

    # ------------------------------------------------------------ checks

    async def _authenticate(self, request: web.Request) -> web.Response | None:
        """Run the authenticator; its Principal rides on the request to the context."""
        if self.authenticator is None:
            return None
        try:
            principal = await self.authenticator(request)
        except AuthError as exc:
            return auth_error_response(exc)
        if principal is not None:
            request[_PRINCIPAL_KEY] = principal
        return None

    @staticmethod
    def _principal(request: web.Request) -> Principal | None:
        return request.get(_PRINCIPAL_KEY)

    def _check_origin(self, request: web.Request) -> web.Response | None:
        """DNS-rebinding guard: Host and Origin must name this server."""
        if not self._host_allowed(host_name(request.host)):
            return error_response(403, INVALID_REQUEST, f"Host not allowed: {request.host[:100]}")
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        origin = origin.strip().lower().rstrip("/")
        if origin in self._allowed_origins or self._host_allowed(origin_host(origin)):
            return None
        return error_response(403, INVALID_REQUEST, f"Origin not allowed: {origin[:100]}")

    def _host_allowed(self, host: str | None) -> bool:
        """A well-formed host (``None``: malformed) that this server answers to."""
        return host is not None and (self._allow_any_host or host in self._allowed_hosts)

    async def _session(self, request: web.Request) -> SessionRuntime | web.Response:
        session_id = request.headers.get(SESSION_HEADER)
        if not session_id:
            return error_response(
                400, INVALID_REQUEST, f"Missing {SESSION_HEADER} header: send initialize first"
            )
        runtime = self.runtimes.get(session_id)
        if runtime is None:
            try:
                state = await self.store.get(session_id)
            except ClusterUnavailable as exc:
                return unavailable_response(exc)
            if state is None or not self._owns(request, state):
                return _session_not_found()
            runtime = await self._adopt(state)
        elif not self._owns(request, runtime.state):
            return _session_not_found()
        else:
            self.runtimes.move_to_end(session_id)
        runtime.last_seen = time.monotonic()
        # Only an unsupported version is refused: the session's negotiated version governs
        # the wire either way (the conformance harness itself sends older supported ones).
        header = request.headers.get(VERSION_HEADER)
        if (
            header is not None
            and header != runtime.state.protocol_version
            and not versions.is_supported(header)
        ):
            supported = ", ".join(versions.SUPPORTED)
            return error_response(
                400,
                INVALID_REQUEST,
                f"Unsupported {VERSION_HEADER}: {header[:40]} (supported: {supported})",
            )
        return runtime

    def _owns(self, request: web.Request, state: SessionState) -> bool:
        """A session belongs to the principal that created it (issuer + subject): another
        principal's token, or none where it was created with one, finds no session —
        the same answer as an unknown id, so a session id learns nothing to its thief.
        Every replica checks the binding stored with the session."""
        principal = self._principal(request)
        return state.principal == (principal.binding if principal is not None else None)

    async def _adopt(self, state: SessionState) -> SessionRuntime:
        replica = self.cluster.replica_id if self.cluster is not None else None
        runtime = SessionRuntime(state, self.settings.event_store_size, replica)
        self.runtimes[state.id] = runtime
        while len(self.runtimes) > self.settings.max_sessions:
            await self._evict(next(iter(self.runtimes)))
        return runtime

    async def _evict(self, session_id: str) -> None:
        """Past ``max_sessions`` the least recently used session ends everywhere: its
        state leaves the store (the KV entry, with the bus), not only this replica."""
        try:
            await self.end_session(session_id)
        except ClusterUnavailable:
            log.warning("evicted_session_not_deleted", session=session_id[:8])
            self.forget_session(session_id)

    # ------------------------------------------------------------ POST

    async def handle_post(self, request: web.Request) -> web.StreamResponse:
        refused = self._check_origin(request) or await self._authenticate(request)
        if refused is not None:
            return refused
        if request.content_type != "application/json":
            return error_response(415, INVALID_REQUEST, "Content-Type must be application/json")
        accept = request.headers.get("Accept", "")
        if not (_accepts(accept, "application/json") and _accepts(accept, "text/event-stream")):
            return error_response(
                406, INVALID_REQUEST, "Accept must include application/json and text/event-stream"
            )
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return error_response(413, INVALID_REQUEST, f"Request body larger than {limit} bytes")
        try:
            body = await self._read_body(request)
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, INVALID_REQUEST, f"Request body larger than {limit} bytes")
        except TimeoutError:
            return _too_slow(self.settings.body_timeout)
        except web.RequestPayloadError as exc:  # bad chunking, undecodable Content-Encoding
            return error_response(400, INVALID_REQUEST, f"The request body is unreadable: {exc}")
        try:
            message = decode_message(body, self.settings.max_json_depth)
        except McpError as exc:
            return error_response(400, exc.code, exc.message)
        if stateless.is_modern(request, message, body):
            try:
                return await stateless.handle(self, request, message, self._principal(request))
            except AuthError as exc:
                return auth_error_response(exc)
        if message.method == "initialize":
            return await self._initialize(message, self._principal(request))
        runtime = await self._session(request)
        if isinstance(runtime, web.Response):
            return runtime
        if message.is_notification:
            await self._notification(runtime, message, self._principal(request))
            return web.Response(status=202)
        if message.is_response:
            return await self._response(runtime, message)
        return await self._request(request, runtime, message)

    async def _read_body(self, request: web.Request) -> bytes:
        """The whole body, within ``body_timeout``. A body that arrived with the headers
        (the usual small JSON-RPC message) is read without arming a timer: nothing can
        stall on it, and the timer is a large part of a small call's cost."""
        if request.content.is_eof():
            return await request.read()
        async with asyncio.timeout(self.settings.body_timeout):
            return await request.read()

    async def _initialize(self, message: Message, principal: Principal | None) -> web.Response:
        if not message.is_request:
            return error_response(400, INVALID_REQUEST, "initialize must be a request with an id")
        try:
            params = decode_params(message.params, InitializeParams)
            result = self.service.initialize(params)
        except McpError as exc:
            return web.Response(
                body=encode_error(message.request_id, exc.code, exc.message),
                content_type="application/json",
            )
        state = SessionState(
            id=new_session_id(),
            protocol_version=result.protocol_version,
            capabilities=params.capabilities,
            client_info=params.client_info,
            created_at=time.time(),
            principal=principal.binding if principal is not None else None,
        )
        try:
            await self.store.put(state)
        except ClusterUnavailable as exc:
            return unavailable_response(exc)
        await self._adopt(state)
        log.info(
            "session_started",
            session=state.id[:8],
            version=state.protocol_version,
            client=params.client_info.name if params.client_info else None,
            principal=principal.key if principal is not None else None,
        )
        return web.Response(
            body=encode_result(message.request_id, result),
            content_type="application/json",
            headers={SESSION_HEADER: state.id},
        )

    async def _notification(
        self, runtime: SessionRuntime, message: Message, principal: Principal | None
    ) -> None:
        method = cast(str, message.method)  # a notification has one
        if method == "notifications/initialized":
            if not runtime.state.initialized:
                runtime.state.initialized = True
                try:
                    await self.store.put(runtime.state)
                except ClusterUnavailable:
                    log.warning("session_not_saved", session=runtime.id[:8])
        elif method == "notifications/cancelled":
            try:
                params = decode_params(message.params, CancelledParams)
            except McpError:
                return
            task = (
                runtime.inflight.get(params.request_id) if params.request_id is not None else None
            )
            if task is not None:
                task.cancel()
            elif self.cluster is not None and params.request_id is not None:
                try:
                    await self.cluster.route_cancel(runtime.id, params.request_id)
                except ClusterUnavailable:
                    log.warning("cancel_not_routed", session=runtime.id[:8])
        else:
            handler = self.service.notification_handlers.get(method)
            if handler is not None:
                ctx = self.service.notification_context(
                    method, runtime.state, message.params, principal
                )
                try:
                    await handler(ctx)
                except Exception:
                    log.exception("notification_handler_failed", method=method)

    async def _response(self, runtime: SessionRuntime, message: Message) -> web.Response:
        if runtime.pending.get(message.request_id) is None and self.cluster is not None:
            try:
                problem = await self.cluster.route_response(
                    runtime.id, str(message.request_id), msgspec.json.encode(message)
                )
            except ClusterUnavailable as exc:
                return unavailable_response(exc)
            if problem is not None:
                return error_response(400, INVALID_REQUEST, problem)
            return web.Response(status=202)
        problem = self.settle(runtime, message)
        if problem is not None:
            return error_response(400, INVALID_REQUEST, problem)
        return web.Response(status=202)

    def settle(self, runtime: SessionRuntime, message: Message) -> str | None:
        """Wake the handler waiting for this answer; a problem text if none waits."""
        future = runtime.pending.get(message.request_id)
        if future is None:
            return f"No request with id {message.id!r} is waiting for an answer"
        if not future.done():
            if isinstance(message.error, ErrorObject):
                error = message.error
                future.set_exception(McpError(error.code, error.message, error.data))
            else:
                future.set_result(cast(msgspec.Raw, message.result))  # a response has one
        return None

    async def _request(
        self, http: web.Request, runtime: SessionRuntime, message: Message
    ) -> web.StreamResponse:
        request_id = message.request_id
        if request_id in runtime.inflight:
            return web.Response(
                body=encode_error(request_id, INVALID_REQUEST, "Request id is already in use"),
                content_type="application/json",
            )
        channel = RequestChannel(self, runtime, http, request_id)
        # Run in the request's own task (aiohttp's): a task of its own per call, and this
        # handler suspended on it, cost a plain call ~8% more. Cancelling the request
        # (notifications/cancelled, the session's end) cancels this task; ``_run`` ends it.
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs every handler in a task
        runtime.inflight[request_id] = task
        await self._run(runtime, message, channel, self._principal(http))
        if channel.mode is _Mode.UNDECIDED:
            if channel.refusal is not None:
                return auth_error_response(channel.refusal)
            payload = channel.payload or encode_error(
                request_id, REQUEST_CANCELLED, "Request cancelled"
            )
            return web.Response(
                body=payload, content_type="application/json", headers={SESSION_HEADER: runtime.id}
            )
        response = channel.response
        assert response is not None
        return response

    async def run_stateless(
        self,
        state: SessionState,
        message: Message,
        channel: stateless.StatelessChannel,
        principal: Principal | None,
    ) -> Any:
        """One 2026 request through the chain (the stateless module owns the rest)."""
        ctx, chained = self.service.prepare(state, message, channel, principal)
        return await (self._chain(ctx) if chained else self.service.dispatch(ctx))

    async def _run(
        self,
        runtime: SessionRuntime,
        message: Message,
        channel: RequestChannel,
        principal: Principal | None,
    ) -> None:
        request_id = message.request_id
        bind_request(
            self.service.name,
            runtime.id[:8],
            request_id,
            principal.key if principal is not None else None,
        )
        payload: bytes | None
        try:
            ctx, chained = self.service.prepare(runtime.state, message, channel, principal)
            result = await (self._chain(ctx) if chained else self.service.dispatch(ctx))
            payload = encode_result(request_id, result)
        except McpError as exc:
            payload = encode_error(request_id, exc.code, exc.message, exc.data)
        except AuthError as exc:
            channel.refusal = exc
            payload = (
                None
                if channel.mode is _Mode.UNDECIDED
                else encode_error(request_id, INVALID_REQUEST, exc.message)
            )
        except asyncio.CancelledError:
            # The request was cancelled, not the task that answers it: it goes on to
            # answer (JSON mode: "Request cancelled"; a stream: ended without a result).
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            payload = None
        except Exception:
            log.exception("request_failed", method=message.method)
            payload = encode_error(
                request_id, INTERNAL_ERROR, "Internal error; see the service log"
            )
        finally:
            runtime.inflight.pop(request_id, None)
        await channel.finish(payload)

    # ------------------------------------------------------------ GET

    async def handle_get(self, request: web.Request) -> web.StreamResponse:
        refused = self._check_origin(request) or await self._authenticate(request)
        if refused is not None:
            return refused
        if stateless.is_modern_stream_request(request):
            return stateless.method_not_allowed()
        if not _accepts(request.headers.get("Accept", ""), "text/event-stream"):
            return error_response(406, INVALID_REQUEST, "Accept must include text/event-stream")
        runtime = await self._session(request)
        if isinstance(runtime, web.Response):
            return runtime
        last_event_id = request.headers.get("Last-Event-ID")
        if self.cluster is not None:
            shared = await self._shared_get(request, runtime, last_event_id)
            if shared is not None:
                return shared
        if last_event_id:
            try:
                stream_id, seq = parse_event_id(last_event_id)
                stream = runtime.streams.get(stream_id)
                if stream is None:
                    raise ResumeError(
                        f"Unknown or expired stream in Last-Event-ID: {last_event_id[:80]!r}"
                    )
                stream.replay_after(seq)
            except ResumeError as exc:
                return error_response(400, INVALID_REQUEST, str(exc))
            if stream.writer is not None:
                stream.detach()  # a resuming client replaces its dead connection
        else:
            stream = runtime.standalone_stream()
            if stream.writer is not None:
                return error_response(
                    409, INVALID_REQUEST, "A GET stream is already open for this session"
                )
            seq = stream.seq
        response = web.StreamResponse(
            status=200, headers={**SSE_HEADERS, SESSION_HEADER: runtime.id}
        )
        await response.prepare(request)
        if not last_event_id and versions.sends_sse_priming_event(runtime.state.protocol_version):
            await stream.prime(self.settings.sse_retry_ms)  # delivered by the catch-up below
        await self._serve_stream(runtime, stream, response, seq)
        return response

    async def _shared_get(
        self, request: web.Request, runtime: SessionRuntime, last_event_id: str | None
    ) -> web.StreamResponse | None:
        """GET when sessions are shared: the GET stream and other replicas' streams come
        from the bus; ``None`` leaves a stream this replica holds to the local path."""
        cluster = self.cluster
        assert cluster is not None
        headers = {**SSE_HEADERS, SESSION_HEADER: runtime.id}
        try:
            if not last_event_id:
                if runtime.bus_stream_open:
                    return error_response(
                        409, INVALID_REQUEST, "A GET stream is already open for this session"
                    )
                retry = (
                    self.settings.sse_retry_ms
                    if versions.sends_sse_priming_event(runtime.state.protocol_version)
                    else None
                )
                return await cluster.serve_session_stream(runtime, request, headers, None, retry)
            stream_id, seq = parse_event_id(last_event_id)
            if stream_id == "g":
                return await cluster.serve_session_stream(runtime, request, headers, seq, None)
            if stream_id in runtime.streams:
                return None
            return await cluster.resume_remote_stream(runtime, request, headers, stream_id, seq)
        except ResumeError as exc:
            return error_response(400, INVALID_REQUEST, str(exc))
        except ClusterUnavailable as exc:
            return unavailable_response(exc)

    async def _serve_stream(
        self, runtime: SessionRuntime, stream: Stream, response: web.StreamResponse, seq: int
    ) -> None:
        """Catch up from ``seq``, then hold the connection until the stream is done."""
        try:
            while chunks := stream.replay_after(seq):
                for chunk in chunks:
                    await response.write(chunk)
                seq += len(chunks)
        except (ResumeError, ConnectionError):
            return
        if stream.finished:
            return
        stream.attach(response)
        try:
            while stream.writer is response and not (
                stream.finished or runtime.ended or self.closing
            ):
                try:
                    await asyncio.wait_for(stream.changed.wait(), _KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
        except (ConnectionError, RuntimeError):
            pass
        finally:
            if stream.writer is response:
                stream.detach()

    # ------------------------------------------------------------ DELETE

    async def handle_delete(self, request: web.Request) -> web.Response:
        refused = self._check_origin(request) or await self._authenticate(request)
        if refused is not None:
            return refused
        if stateless.is_modern_stream_request(request):
            return stateless.method_not_allowed()
        runtime = await self._session(request)
        if isinstance(runtime, web.Response):
            return runtime
        try:
            await self.end_session(runtime.id)
        except ClusterUnavailable as exc:
            return unavailable_response(exc)
        return web.Response(status=204)

    async def end_session(self, session_id: str) -> None:
        await self.store.delete(session_id)
        self.forget_session(session_id)

    def forget_session(self, session_id: str) -> None:
        """End the session's live part on this replica (its state may live on elsewhere)."""
        runtime = self.runtimes.pop(session_id, None)
        if runtime is not None:
            runtime.end()
            log.info("session_ended", session=session_id[:8])

    def session_changed(self, state: SessionState) -> None:
        """Another replica saved the session (log level, subscriptions): use its state."""
        runtime = self.runtimes.get(state.id)
        if runtime is not None:
            runtime.state = state

    def cancel_local(self, session_id: str, request_id: RequestId) -> bool:
        runtime = self.runtimes.get(session_id)
        task = runtime.inflight.get(request_id) if runtime is not None else None
        if task is None:
            return False
        task.cancel()
        return True

    # ------------------------------------------------------------ ServiceHost (for the service)

    async def save_session(self, state: SessionState) -> None:
        try:
            await self.store.put(state)
        except ClusterUnavailable as exc:
            raise McpError(INTERNAL_ERROR, str(exc)) from None

    def subscribed_uris(self) -> set[str]:
        """URIs the sessions live on this replica subscribed to."""
        return {
            uri
            for runtime in list(self.runtimes.values())
            if not runtime.ended
            for uri in runtime.state.subscriptions
        }

    async def resource_updated(self, uri: str) -> None:
        payload = encode_notification("notifications/resources/updated", {"uri": uri})
        await self._announce("notifications/resources/updated", uri)
        if self.cluster is not None:
            for state in self.cluster.sessions():
                if uri in state.subscriptions:
                    await self.cluster.publish_session_message(state.id, payload)
            return
        for runtime in list(self.runtimes.values()):
            if uri in runtime.state.subscriptions:
                await self._to_standalone(runtime, payload)

    async def broadcast(self, method: str, params: Any) -> None:
        payload = encode_notification(method, params if params is not None else msgspec.UNSET)
        await self._announce(method, None)
        if self.cluster is not None:
            for state in self.cluster.sessions():
                await self.cluster.publish_session_message(state.id, payload)
            return
        for runtime in list(self.runtimes.values()):
            await self._to_standalone(runtime, payload)

    async def _announce(self, method: str, uri: str | None) -> None:
        """A change for the 2026 listen streams: every replica's, over the bus."""
        if self.cluster is None:
            self.listeners.deliver(method, uri)
            return
        try:
            await self.cluster.publish_change(method, uri)
        except ClusterUnavailable:
            log.warning("change_not_announced", method=method)
            self.listeners.deliver(method, uri)

    def deliver_change(self, method: str, uri: str | None) -> None:
        self.listeners.deliver(method, uri)

    @staticmethod
    async def _to_standalone(runtime: SessionRuntime, payload: bytes) -> None:
        """Session-wide messages go on the GET stream; dropped if the client never opened one."""
        stream = runtime.streams.get("g")
        if stream is not None:
            await stream.send(payload)

    # ------------------------------------------------------------ housekeeping

    async def sweep_idle(self) -> None:
        """End sessions idle longer than the timeout (no running calls, no open stream)."""
        deadline = time.monotonic() - self.settings.session_idle_timeout
        for runtime in list(self.runtimes.values()):
            busy = runtime.inflight or any(s.writer is not None for s in runtime.streams.values())
            if runtime.last_seen < deadline and not busy:
                if self.cluster is not None:
                    # Shared sessions expire with the bucket's TTL; other replicas may
                    # still serve this one.
                    self.forget_session(runtime.id)
                else:
                    await self.end_session(runtime.id)

    async def drain(self, timeout: float) -> None:
        """Graceful shutdown: let running calls finish, then end every stream."""
        self.closing = True
        self.listeners.close_all()
        tasks = [t for r in self.runtimes.values() for t in r.inflight.values()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
        for runtime in self.runtimes.values():
            for stream in runtime.streams.values():
                stream.changed.set()
