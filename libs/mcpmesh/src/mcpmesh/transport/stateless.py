"""The 2026-07-28 stateless wire on the shared endpoint: one POST is one request.

:meth:`McpEndpoint.handle_post` decodes the body, then hands a request that
:func:`is_modern` recognises to :func:`handle`. There is no session: the request's
``_meta`` (protocol version, client capabilities, log level) becomes a per-request
:class:`SessionState`, and the result goes back on this POST — plain JSON, or an SSE
stream (no event ids, no priming, not resumable) once the handler sends a notification.
Closing that stream (or the connection) cancels the handler. Server→client requests do
not exist here: the :func:`~mcpmesh.server.mrtr.mrtr` middleware turns questions into
``input_required`` results. ``subscriptions/listen`` replaces the GET stream.

Checks, in order (Origin, authentication, media types and body size ran before):
``_meta`` and ``MCP-Protocol-Version`` (:func:`~mcpmesh.protocol.v2026.check_meta`),
``Mcp-Method``/``Mcp-Name``, the method existing on this wire (404), then the
``Mcp-Param-*`` headers of the tool called. Every error carries the request's id and
the HTTP status of :func:`~mcpmesh.protocol.errors.modern_http_status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

import msgspec
import structlog
from aiohttp import web
from msgspec import UnsetType

from mcpmesh.auth.principal import AuthError, Principal
from mcpmesh.protocol import versions
from mcpmesh.protocol.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    McpError,
    modern_http_status,
    unsupported_protocol_version,
)
from mcpmesh.protocol.headers import check_param_headers, check_standard_headers
from mcpmesh.protocol.jsonrpc import (
    Message,
    RequestId,
    decode_params,
    encode,
    encode_error,
    encode_notification,
    encode_result,
)
from mcpmesh.protocol.session import SessionState
from mcpmesh.protocol.types import Implementation
from mcpmesh.protocol.v2026 import (
    CACHEABLE_METHODS,
    VERSION_HEADER,
    DiscoverResult,
    Era,
    InputRequiredResult,
    ListenParams,
    ModernRequest,
    RequestEnvelope,
    SubscriptionFilter,
    WireError,
    acknowledgement,
    check_meta,
    decode_envelope,
    listen_closed,
    refusal,
    request_era,
    result_meta,
    single_header,
    subscription_meta,
)
from mcpmesh.server.service import Service
from mcpmesh.transport.sse import SSE_HEADERS

log = structlog.get_logger("mcpmesh.transport")

#: Every per-request ``_meta`` key starts so: a body without it cannot be modern.
_MODERN_MARK = b"io.modelcontextprotocol/"
#: How a per-request SessionState id starts (in logs and audit events). Each request
#: gets its own id, so nothing a service keys by session is shared between callers.
STATELESS_SESSION = "stateless-"
_KEEPALIVE_SECONDS = 25.0
#: How often a JSON-mode request looks whether its client is still connected.
_DISCONNECT_POLL_SECONDS = 0.5
_LISTENER_QUEUE = 256
_ENVELOPE_KEY = web.RequestKey("mcp_envelope", RequestEnvelope)


def is_modern(http: web.Request, message: Message, body: bytes) -> bool:
    """Whether this POST speaks 2026-07-28 (see :func:`~mcpmesh.protocol.v2026.request_era`).
    The 2025 wire pays one header lookup and one byte search, no second decode."""
    header = http.headers.get(VERSION_HEADER)
    if _MODERN_MARK not in body:
        if header is None or versions.is_legacy_revision(header.strip(" \t")):
            return False
        return request_era(http.headers, None) is Era.MODERN
    try:
        envelope = decode_envelope(message.params)
    except WireError:
        meta: Any = msgspec.UNSET
    else:
        http[_ENVELOPE_KEY] = envelope  # decoded once: the checks below reuse it
        meta = envelope.meta
    return request_era(http.headers, None if isinstance(meta, UnsetType) else meta) is Era.MODERN


def is_modern_stream_request(http: web.Request) -> bool:
    """A GET or DELETE naming a stateless revision: answered 405 (POST only)."""
    return request_era(http.headers, None) is Era.MODERN


def method_not_allowed() -> web.Response:
    """GET and DELETE on the 2026 wire: there are no sessions and no GET stream."""
    return web.Response(
        status=405,
        body=encode_error(
            None, INVALID_REQUEST, "The 2026-07-28 wire is POST only: use subscriptions/listen"
        ),
        content_type="application/json",
        headers={"Allow": "POST"},
    )


def _error_response(request_id: RequestId | None, exc: McpError) -> web.Response:
    status = exc.status if isinstance(exc, WireError) else modern_http_status(exc.code)
    return web.Response(
        status=status,
        body=encode_error(request_id, exc.code, exc.message, exc.data),
        content_type="application/json",
    )


def _sse(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def _connected(http: web.Request) -> bool:
    transport = http.transport
    return transport is not None and not transport.is_closing()


# ---------------------------------------------------------------- results


def complete_result(method: str, result: Any, server_info: Implementation, hints: Any) -> bytes:
    """The result as the 2026 wire sends it: ``resultType``, serverInfo in ``_meta`` and
    (for cacheable methods) cache hints, spliced into the encoded 2025 result so handlers
    and result types stay as they are."""
    if isinstance(result, InputRequiredResult):
        if result.meta is None:
            result = msgspec.structs.replace(result, meta=result_meta(server_info))
        return encode(result)
    if isinstance(result, DiscoverResult):
        return encode(result)
    extra: dict[str, Any] = {"resultType": "complete"}
    if method in CACHEABLE_METHODS:
        extra.update(hints.fields())
    own_meta = getattr(result, "meta", None)
    if isinstance(own_meta, dict):
        result = msgspec.structs.replace(result, meta={**result_meta(server_info), **own_meta})
    else:
        extra["_meta"] = result_meta(server_info)
    body = encode(result)
    head = encode(extra)
    if body == b"{}":
        return head
    return head[:-1] + b"," + body[1:]


# ---------------------------------------------------------------- the request's channel


class StatelessChannel:
    """Where one 2026 request's messages go: its JSON response, or an SSE stream opened at
    the first notification (no event ids: a 2026 stream is not resumable)."""

    __slots__ = ("_http", "response")

    def __init__(self, http: web.Request) -> None:
        self._http = http
        self.response: web.StreamResponse | None = None

    async def _write(self, payload: bytes) -> None:
        if self.response is None:
            response = web.StreamResponse(status=200, headers=SSE_HEADERS)
            await response.prepare(self._http)
            self.response = response
        try:
            await self.response.write(_sse(payload))
        except (ConnectionError, RuntimeError):
            # The client closed the stream: on this wire that is a cancellation.
            task = asyncio.current_task()
            if task is not None:
                task.cancel()
            await asyncio.sleep(0)

    async def notify(self, method: str, params: Any) -> None:
        await self._write(encode_notification(method, params))

    async def request(self, method: str, params: Any, timeout: float) -> msgspec.Raw:
        raise McpError(
            INTERNAL_ERROR,
            f"{method} cannot be sent on the 2026-07-28 wire (it asks through input_required)",
        )

    async def close_stream(self) -> None:
        """Nothing to do: a 2026 response stream cannot be resumed, so it stays open."""


# ---------------------------------------------------------------- subscriptions/listen


class _Listener:
    __slots__ = ("filter", "queue")

    def __init__(self, honoured: SubscriptionFilter) -> None:
        self.filter = honoured
        self.queue: asyncio.Queue[tuple[str, str | None] | None] = asyncio.Queue(_LISTENER_QUEUE)


class Listeners:
    """The ``subscriptions/listen`` streams open on this replica."""

    def __init__(self) -> None:
        self._open: set[_Listener] = set()

    def add(self, honoured: SubscriptionFilter) -> _Listener:
        listener = _Listener(honoured)
        self._open.add(listener)
        return listener

    def discard(self, listener: _Listener) -> None:
        self._open.discard(listener)

    def deliver(self, method: str, uri: str | None) -> None:
        """Queue a change for every stream that asked for it; a stream too slow to take
        it misses it (the client re-lists on its next change or when its cache expires)."""
        for listener in list(self._open):
            if listener.filter.wants(method, uri):
                try:
                    listener.queue.put_nowait((method, uri))
                except asyncio.QueueFull:
                    log.warning("listen_stream_lagging", method=method)

    def close_all(self) -> None:
        for listener in list(self._open):
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.put_nowait(None)


async def _listen(
    endpoint: StatelessHost, http: web.Request, message: Message
) -> web.StreamResponse:
    request_id = message.request_id
    params = decode_params(message.params, ListenParams)
    honoured = params.notifications.honoured(endpoint.service.capabilities)
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(http)
    listener = endpoint.listeners.add(honoured)
    meta = subscription_meta(request_id)
    try:
        await response.write(
            _sse(
                encode_notification(
                    "notifications/subscriptions/acknowledged",
                    acknowledgement(request_id, honoured),
                )
            )
        )
        while not endpoint.closing and _connected(http):
            try:
                change = await asyncio.wait_for(listener.queue.get(), _KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if change is None:
                break
            method, uri = change
            notice: dict[str, Any] = {"_meta": meta}
            if uri is not None:
                notice["uri"] = uri
            await response.write(_sse(encode_notification(method, notice)))
        await response.write(_sse(encode_result(request_id, listen_closed(request_id))))
    except (ConnectionError, RuntimeError):
        pass
    finally:
        endpoint.listeners.discard(listener)
    return response


# ---------------------------------------------------------------- the request path


class StatelessHost(Protocol):
    """What this module needs of the endpoint (``McpEndpoint`` implements it)."""

    @property
    def service(self) -> Service[Any]: ...

    @property
    def listeners(self) -> Listeners: ...

    @property
    def disconnects(self) -> DisconnectWatch: ...

    @property
    def closing(self) -> bool: ...

    async def run_stateless(
        self,
        state: SessionState,
        message: Message,
        channel: StatelessChannel,
        principal: Principal | None,
    ) -> Any: ...


def _check(
    endpoint: StatelessHost, http: web.Request, message: Message
) -> tuple[RequestEnvelope, ModernRequest]:
    """Every pre-dispatch rule of the 2026 wire, in order; raises McpError."""
    method = str(message.method)
    envelope = http.get(_ENVELOPE_KEY) or decode_envelope(message.params)
    header = single_header(http.headers, VERSION_HEADER)
    if isinstance(envelope.meta, UnsetType) and header and not versions.is_modern(header):
        # A version we do not speak, from a client that sent no 2026 _meta (a session
        # client, say): what we speak is the useful answer, not "_meta is missing".
        raise refusal(unsupported_protocol_version(header, versions.all_supported()))
    modern = check_meta(http.headers, envelope)
    check_standard_headers(http.headers, method, {"name": envelope.name, "uri": envelope.uri})
    if not endpoint.service.method_known(method, modern.protocol_version):
        raise McpError(METHOD_NOT_FOUND, f"Method not found: {method[:100]}")
    if method == "tools/call" and isinstance(envelope.name, str):
        spec = endpoint.service.tools.get(envelope.name)
        if spec is not None and spec.header_params:
            arguments = (
                {}
                if isinstance(envelope.arguments, UnsetType)
                else msgspec.json.decode(envelope.arguments)
            )
            if isinstance(arguments, Mapping):
                check_param_headers(http.headers, spec.header_params, arguments)
    return envelope, modern


async def handle(
    endpoint: StatelessHost, http: web.Request, message: Message, principal: Principal | None
) -> web.StreamResponse:
    """Serve one 2026-07-28 POST (Origin and authentication already passed). A
    middleware's :class:`AuthError` is raised for the endpoint to answer."""
    if message.is_notification:
        return web.Response(status=202)  # nothing on this wire needs one; ignore it
    if not message.is_request:
        return web.Response(
            status=400,
            body=encode_error(
                message.id if isinstance(message.id, int | str) else None,
                INVALID_REQUEST,
                "The 2026-07-28 wire sends no server→client requests, so there is nothing "
                "to answer: inputRequests are answered by retrying the request",
            ),
            content_type="application/json",
        )
    request_id = message.request_id
    try:
        _, modern = _check(endpoint, http, message)
    except McpError as exc:
        return _error_response(request_id, exc)
    except msgspec.DecodeError as exc:
        return _error_response(request_id, McpError(INVALID_PARAMS, f"Invalid params: {exc}"))
    if message.method == "subscriptions/listen":
        try:
            return await _listen(endpoint, http, message)
        except McpError as exc:
            return _error_response(request_id, exc)
    state = SessionState(
        id=STATELESS_SESSION + secrets.token_hex(8),
        protocol_version=modern.protocol_version,
        capabilities=modern.capabilities,
        client_info=modern.client_info,
        initialized=True,
        stateless=True,
        log_level=modern.log_level,
        principal=principal.binding if principal is not None else None,
    )
    channel = StatelessChannel(http)
    payload: bytes | McpError
    watched = endpoint.disconnects.watch(http)
    try:
        result = await endpoint.run_stateless(state, message, channel, principal)
        service = endpoint.service
        method = str(message.method)
        body = complete_result(method, result, service.info, service.cache_hints(method))
        payload = b'{"jsonrpc":"2.0","id":' + encode(request_id) + b',"result":' + body + b"}"
    except McpError as exc:
        payload = exc
    except AuthError:
        raise  # the endpoint answers it with its status and challenge
    except Exception:
        log.exception("request_failed", method=message.method)
        payload = McpError(INTERNAL_ERROR, "Internal error; see the service log")
    finally:  # on CancelledError the client is gone: nothing to answer
        endpoint.disconnects.forget(watched)
    if isinstance(payload, McpError):
        if channel.response is None:
            return _error_response(request_id, payload)
        payload = encode_error(request_id, payload.code, payload.message, payload.data)
    if channel.response is None:
        return web.Response(body=payload, content_type="application/json")
    response = channel.response
    try:
        await response.write(_sse(payload))
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass
    return response


class DisconnectWatch:
    """Cancels a request's handler once its client has gone: on the 2026 wire, closing
    the connection is how a client cancels (aiohttp itself does not cancel handlers).
    One timer for every request in flight, every ``_DISCONNECT_POLL_SECONDS``: a timer per
    request (armed and cancelled around every call) cost a fast call more than its checks.
    """

    def __init__(self) -> None:
        self._watched: dict[asyncio.Task[Any], web.Request] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, http: web.Request) -> asyncio.Task[Any] | None:
        """Watch the running handler's client until :meth:`forget`."""
        task = asyncio.current_task()
        if task is not None:
            self._watched[task] = http
            if self._timer is None:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(_DISCONNECT_POLL_SECONDS, self._check)
        return task

    def forget(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._watched.pop(task, None)

    def _check(self) -> None:
        self._timer = None
        for task, http in list(self._watched.items()):
            if not _connected(http):
                del self._watched[task]
                task.cancel()
        if self._watched:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(_DISCONNECT_POLL_SECONDS, self._check)
