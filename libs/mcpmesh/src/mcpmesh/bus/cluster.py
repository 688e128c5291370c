"""The replicas of one service on NATS: shared sessions, routed answers, shared SSE streams.

Subjects (``P`` is the prefix setting, ``S`` the service, ``R`` a replica id):

* ``P.S.replica.R.response`` — request/reply: a client's answer to a server→client
  request R sent, posted to another replica, handed to R's waiting handler;
* ``P.S.replica.R.ping`` — is R alive (a resumed stream whose writer died is ended);
* ``P.S.cancel`` — ``notifications/cancelled`` for a request no local handler runs;
* ``P.events.S.<session>.<stream>`` — SSE events in the JetStream stream ``P_EVENTS_S``
  (memory storage, bounded age and count): the GET stream's messages from any replica,
  and copies of POST streams so another replica can resume them (``Last-Event-ID``).

Event ids of the GET stream are ``g.<JetStream sequence>``, the same on every replica,
so a client resumes it anywhere. POST stream ids start with the writing replica's id.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import nats
import structlog
from aiohttp import web
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from mcpmesh.bus.audit import Auditor
from mcpmesh.bus.connect import connect_options
from mcpmesh.bus.names import events_stream, sessions_bucket, token
from mcpmesh.bus.sessions import KvSessionStore
from mcpmesh.bus.settings import BusSettings
from mcpmesh.protocol.errors import INTERNAL_ERROR, McpError
from mcpmesh.protocol.jsonrpc import RequestId, decode_message, encode_error
from mcpmesh.protocol.session import SessionState
from mcpmesh.transport.cluster import ClusterEndpoint, ClusterUnavailable
from mcpmesh.transport.sessions import SessionRuntime
from mcpmesh.transport.sse import ResumeError, Stream, format_event

log = structlog.get_logger("mcpmesh.bus")

_KEEPALIVE_SECONDS = 25.0
_SEQ = "Mcp-Seq"
_END = "Mcp-End"
_REQUEST = "Mcp-Request"
_REPLICA_ID = re.compile(r"[0-9a-f]{8}")


class _StreamMirror:
    """Copies one POST stream's events to JetStream (fire and forget: no round trip)."""

    __slots__ = ("bus", "subject")

    def __init__(self, bus: Bus, subject: str) -> None:
        self.bus = bus
        self.subject = subject

    async def event(self, stream: Stream, seq: int, chunk: bytes) -> None:
        await self.bus.publish_quietly(
            self.subject, chunk, {_SEQ: str(seq), _REQUEST: _request_header(stream)}
        )

    async def end(self, stream: Stream) -> None:
        headers = {_SEQ: str(stream.seq), _END: "1", _REQUEST: _request_header(stream)}
        await self.bus.publish_quietly(self.subject, b"", headers)


def _request_header(stream: Stream) -> str:
    return msgspec.json.encode(stream.request_id).decode()


class Bus:
    """One replica's connection to the others (implements the transport's ``Cluster``)."""

    def __init__(self, service_name: str, settings: BusSettings) -> None:
        self.settings = settings
        self.service_name = service_name
        self.replica_id = secrets.token_hex(4)
        self.nc = NatsClient()
        prefix = token(settings.prefix)
        self.prefix = prefix
        self.base = f"{prefix}.{token(service_name)}"
        self.events_stream = events_stream(prefix, service_name)
        self.store = KvSessionStore(
            self.nc,
            sessions_bucket(prefix, service_name),
            settings.session_ttl,
            settings.request_timeout,
        )
        self.endpoint: ClusterEndpoint | None = None
        #: The audit stream's writer, once :func:`~mcpmesh.bus.wiring.connect_bus` made one.
        self.auditor: Auditor | None = None
        self.ready = asyncio.Event()
        self.stopping = asyncio.Event()
        self.problem: str | None = "not connected to NATS yet"
        #: Called once JetStream is set up (after the first successful connection).
        self.on_ready: list[Callable[[], Awaitable[None]]] = []
        #: Called first when the bus stops (flush the audit queue, close clients).
        self.on_stop: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ lifecycle

    async def start(self, endpoint: ClusterEndpoint, wait: float = 5.0) -> None:
        """Connect (in the background if NATS is down: the service starts anyway)."""
        self.endpoint = endpoint
        self.store.on_changed = endpoint.session_changed
        self.store.on_removed = endpoint.forget_session
        # Unusable credential or TLS files: refuse to start now, not retry in the background.
        options = connect_options(self.settings, token(self.service_name))
        task = asyncio.create_task(self._connect_and_set_up(options))
        self._tasks.append(task)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.ready.wait()), wait)
        if not self.ready.is_set():
            log.warning("nats_unreachable", url=self.settings.url, problem=self.problem)

    async def _connect_and_set_up(self, options: dict[str, Any]) -> None:
        await self.nc.connect(
            **options,
            name=f"mcpmesh-{self.service_name}-{self.replica_id}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            disconnected_cb=self._disconnected,
            reconnected_cb=self._reconnected,
            error_cb=self._error,
        )
        while not self.stopping.is_set():
            try:
                await self._set_up()
                break
            except Exception as exc:
                self.problem = f"JetStream set-up failed: {type(exc).__name__}: {exc}"
                log.warning("bus_setup_failed", problem=self.problem)
                await asyncio.sleep(1.0)
        for hook in self.on_ready:
            try:
                await hook()
            except Exception:
                log.exception("bus_ready_hook_failed")
        self.problem = None
        self.ready.set()
        log.info("bus_ready", replica=self.replica_id, url=self.settings.url)
        self._tasks.append(asyncio.create_task(self._refresh_sessions()))

    async def _set_up(self) -> None:
        js = self.nc.jetstream(timeout=self.settings.request_timeout)
        await ensure_stream(
            js,
            api.StreamConfig(
                name=self.events_stream,
                subjects=[f"{self.prefix}.events.{token(self.service_name)}.>"],
                storage=api.StorageType.MEMORY,
                max_age=self.settings.event_retention,
                max_msgs_per_subject=self.settings.events_per_stream,
                discard=api.DiscardPolicy.OLD,
            ),
        )
        await self.store.open()
        own = f"{self.base}.replica.{self.replica_id}"
        await self.nc.subscribe(f"{own}.response", cb=self._on_response)
        await self.nc.subscribe(f"{own}.ping", cb=self._on_ping)
        await self.nc.subscribe(f"{self.base}.cancel", cb=self._on_cancel)

    def stopping_streams(self) -> None:
        self.stopping.set()

    async def stop(self) -> None:
        self.stopping.set()
        for hook in self.on_stop:
            with contextlib.suppress(Exception):
                await hook()
        for task in self._tasks:
            task.cancel()
        await self.store.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.nc.drain(), 5)
        with contextlib.suppress(Exception):
            await self.nc.close()

    async def _disconnected(self) -> None:
        self.problem = f"NATS at {self.settings.url} is unreachable (reconnecting)"
        log.warning("nats_disconnected")

    async def _reconnected(self) -> None:
        if self.ready.is_set():
            self.problem = None
        log.info("nats_reconnected")

    async def _error(self, exc: Exception) -> None:
        log.debug("nats_error", error=f"{type(exc).__name__}: {exc}")

    async def readiness(self) -> str | None:
        if self.problem is None and not self.nc.is_connected:
            return f"NATS at {self.settings.url} is unreachable (reconnecting)"
        return self.problem

    def _check(self) -> None:
        if not self.ready.is_set() or not self.nc.is_connected:
            raise ClusterUnavailable(
                "The bus (NATS) is unreachable, and this request needs another replica; "
                "retry in a moment."
            )

    async def publish_quietly(self, subject: str, data: bytes, headers: dict[str, str]) -> None:
        """Publish without waiting; while NATS is away the copy is skipped, not awaited."""
        if not self.nc.is_connected:
            return
        try:
            await self.nc.publish(subject, data, headers=headers)
        except Exception as exc:
            log.debug("publish_skipped", subject=subject, error=type(exc).__name__)

    async def _refresh_sessions(self) -> None:
        interval = max(1.0, self.settings.session_ttl / 8)
        while True:
            await asyncio.sleep(interval)
            runtimes = self.endpoint.runtimes if self.endpoint is not None else {}
            await self.store.refresh({sid: r.last_seen for sid, r in list(runtimes.items())})

    # ------------------------------------------------------------ Cluster: sessions

    def sessions(self) -> list[SessionState]:
        return list(self.store.states.values())

    def attach(self, stream: Stream, session_id: str) -> None:
        stream.mirror = _StreamMirror(self, self._event_subject(session_id, stream.id))

    def _event_subject(self, session_id: str, stream_id: str) -> str:
        return f"{self.prefix}.events.{token(self.service_name)}.{session_id}.{stream_id}"

    # ------------------------------------------------------------ Cluster: routing

    async def route_response(self, session_id: str, request_id: str, body: bytes) -> str | None:
        owner = request_id.split("-", 1)[0]
        unknown = f"No request with id {request_id!r} is waiting for an answer"
        if not _REPLICA_ID.fullmatch(owner) or owner == self.replica_id:
            return unknown
        self._check()
        subject = f"{self.base}.replica.{owner}.response"
        try:
            reply = await self.nc.request(
                subject,
                msgspec.msgpack.encode((session_id, body)),
                timeout=self.settings.request_timeout,
            )
        except NoRespondersError:
            return (
                f"The replica that sent request {request_id!r} is gone, and the call it "
                "belonged to with it; send that call again."
            )
        except (TimeoutError, nats.errors.TimeoutError):
            raise ClusterUnavailable(
                "The replica waiting for this answer did not confirm it in time."
            ) from None
        return reply.data.decode() or None

    async def _on_response(self, msg: Msg) -> None:
        problem = "The session is not live on this replica"
        try:
            session_id, body = msgspec.msgpack.decode(msg.data, type=tuple[str, bytes])
            endpoint = self.endpoint
            runtime = endpoint.runtimes.get(session_id) if endpoint is not None else None
            if endpoint is not None and runtime is not None:
                problem = endpoint.settle(runtime, decode_message(body)) or ""
        except (msgspec.DecodeError, McpError) as exc:
            problem = f"Unreadable routed answer: {exc}"
        await msg.respond(problem.encode())

    async def _on_ping(self, msg: Msg) -> None:
        await msg.respond(b"ok")

    async def route_cancel(self, session_id: str, request_id: RequestId) -> None:
        self._check()
        await self.nc.publish(
            f"{self.base}.cancel", msgspec.msgpack.encode((session_id, request_id))
        )

    async def _on_cancel(self, msg: Msg) -> None:
        try:
            session_id, request_id = msgspec.msgpack.decode(msg.data, type=tuple[str, str | int])
        except msgspec.DecodeError:
            return
        if self.endpoint is not None and self.endpoint.cancel_local(session_id, request_id):
            log.info("cancelled_by_peer", session=session_id[:8], request=request_id)

    async def replica_alive(self, replica_id: str) -> bool:
        try:
            await self.nc.request(f"{self.base}.replica.{replica_id}.ping", b"", timeout=2)
        except NoRespondersError:
            return False
        except Exception:
            return True  # slow or unsure: keep waiting rather than cut a live stream
        return True

    # ------------------------------------------------------------ Cluster: GET streams

    async def publish_session_message(self, session_id: str, payload: bytes) -> None:
        self._check()
        await self.nc.publish(self._event_subject(session_id, "g"), payload)

    async def _follow(self, subject: str, start: int | None) -> tuple[Any, asyncio.Queue[Msg]]:
        queue: asyncio.Queue[Msg] = asyncio.Queue()

        async def deliver(msg: Msg) -> None:
            await queue.put(msg)

        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.ALL
            if start is None
            else api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
        )
        js = self.nc.jetstream(timeout=self.settings.request_timeout)
        try:
            sub = await js.subscribe(
                subject,
                stream=self.events_stream,
                cb=deliver,
                ordered_consumer=True,
                config=config,
                inactive_threshold=60.0,
            )
        except Exception as exc:
            raise ClusterUnavailable(f"The event stream is unavailable: {exc}") from None
        return sub, queue

    async def _next(self, queue: asyncio.Queue[Msg], runtime: SessionRuntime) -> Msg | None:
        """The next event, or None after the keepalive interval; raises when it is over."""
        getter = asyncio.ensure_future(queue.get())
        closed = asyncio.ensure_future(runtime.closed.wait())
        stopping = asyncio.ensure_future(self.stopping.wait())
        done, _ = await asyncio.wait(
            (getter, closed, stopping),
            timeout=_KEEPALIVE_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for future in (getter, closed, stopping):
            if future not in done:
                future.cancel()
        if getter in done:
            return getter.result()
        if done:
            raise EOFError
        return None

    async def serve_session_stream(
        self,
        runtime: SessionRuntime,
        request: web.Request,
        headers: dict[str, str],
        after: int | None,
        retry_ms: int | None,
    ) -> web.StreamResponse:
        self._check()
        if after is None:
            js = self.nc.jetstream(timeout=self.settings.request_timeout)
            try:
                info = await js.stream_info(self.events_stream)
            except Exception as exc:
                raise ClusterUnavailable(f"The event stream is unavailable: {exc}") from None
            after = info.state.last_seq
        sub, queue = await self._follow(self._event_subject(runtime.id, "g"), after + 1)
        runtime.bus_stream_open = True
        response = web.StreamResponse(status=200, headers=headers)
        try:
            await response.prepare(request)
            if retry_ms is not None:
                await response.write(format_event(f"g.{after}", b"", retry_ms))
            while True:
                try:
                    msg = await self._next(queue, runtime)
                except EOFError:
                    break
                if msg is None:
                    await response.write(b": keepalive\n\n")
                    continue
                seq = msg.metadata.sequence.stream
                await response.write(format_event(f"g.{seq}", msg.data))
        except (ConnectionError, RuntimeError):
            pass
        finally:
            runtime.bus_stream_open = False
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return response

    async def resume_remote_stream(
        self,
        runtime: SessionRuntime,
        request: web.Request,
        headers: dict[str, str],
        stream_id: str,
        after: int,
    ) -> web.StreamResponse:
        self._check()
        subject = self._event_subject(runtime.id, stream_id)
        js = self.nc.jetstream(timeout=self.settings.request_timeout)
        try:
            last = await js.get_last_msg(self.events_stream, subject)
        except NotFoundError:
            raise ResumeError(
                f"Unknown or expired stream in Last-Event-ID: {stream_id}.{after}"
            ) from None
        if after > int((last.headers or {}).get(_SEQ, "0")):
            raise ResumeError(f"Last-Event-ID {stream_id}.{after} was never sent")
        sub, queue = await self._follow(subject, None)
        response = web.StreamResponse(status=200, headers=headers)
        owner = stream_id.split("-", 1)[0]
        last_seq, request_header = after, "null"
        try:
            await response.prepare(request)
            while True:
                try:
                    msg = await self._next(queue, runtime)
                except EOFError:
                    break
                if msg is None:
                    if not await self.replica_alive(owner):
                        await response.write(_writer_gone(stream_id, last_seq + 1, request_header))
                        break
                    await response.write(b": keepalive\n\n")
                    continue
                msg_headers = msg.headers or {}
                request_header = msg_headers.get(_REQUEST, request_header)
                if msg_headers.get(_END):
                    break
                seq = int(msg_headers.get(_SEQ, "0"))
                if seq > after:
                    await response.write(msg.data)
                    last_seq = seq
        except (ConnectionError, RuntimeError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return response


def _writer_gone(stream_id: str, seq: int, request_header: str) -> bytes:
    """The answer for a request whose replica died while the client was away."""
    request_id = msgspec.json.decode(request_header)
    payload = encode_error(
        request_id,
        INTERNAL_ERROR,
        "The replica running this request stopped before answering; send the request again.",
    )
    return format_event(f"{stream_id}.{seq}", payload)


async def ensure_stream(js: Any, config: api.StreamConfig) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)
