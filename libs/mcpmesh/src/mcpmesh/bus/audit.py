"""The audit stream: one event per tool call, sampling request and elicitation, hash-chained.

Every event is a JetStream message on ``P.audit.<service>`` in the stream ``P_AUDIT``
(file storage; delete and purge denied). Its headers carry the chain:
``Mcp-Audit-Prev`` (the hash of the event before it in the stream) and
``Mcp-Audit-Hash`` = SHA-256(prev + "\\n" + message body). Several replicas publish to
one chain: each publish names the sequence it expects to follow
(``Nats-Expected-Last-Sequence``), so JetStream refuses it if another replica got in
first, and the publisher reloads the head and tries again. A changed body, a changed
hash, a removed or an inserted event breaks the chain, which :func:`verify` finds.

Arguments are recorded as a SHA-256 digest (raw arguments only when configured), and
sessions as a digest of their id: the audit trail must not hand out session ids.
The hot path only queues the event; a background task publishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import api
from nats.js.errors import APIError, NotFoundError

from mcpmesh.protocol.session import SessionState

log = structlog.get_logger("mcpmesh.audit")

PREV_HEADER = "Mcp-Audit-Prev"
HASH_HEADER = "Mcp-Audit-Hash"
GENESIS = "0" * 64
#: JetStream's error code for "wrong last sequence" (another writer got in first).
_WRONG_LAST_SEQUENCE = 10071


class AuditEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What one audit record says (the body of the message)."""

    time: float
    service: str
    replica: str
    kind: str
    outcome: str
    duration_ms: float
    tool: str | None = None
    principal: str | None = None
    #: Whose upstream credential the call used: ``user`` (the principal's own) or ``shared``.
    credential: Literal["user", "shared"] | None = None
    session: str | None = None
    arguments_sha256: str | None = None
    arguments: Any = None
    #: ``gap`` events: how many events this replica could not record (buffer full).
    dropped: int = 0


def audit_stream_name(prefix: str) -> str:
    return f"{prefix.upper()}_AUDIT"


def chain_hash(prev: str, body: bytes) -> str:
    return hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def stream_config(prefix: str, max_events: int, max_age_days: float) -> api.StreamConfig:
    return api.StreamConfig(
        name=audit_stream_name(prefix),
        subjects=[f"{prefix}.audit.>"],
        storage=api.StorageType.FILE,
        max_msgs=max_events or -1,
        max_age=max_age_days * 86400 if max_age_days else None,
        deny_delete=True,
        deny_purge=True,
    )


class Auditor:
    """Queues audit events from the hot path and publishes them, chained, in order."""

    def __init__(
        self,
        nc: NatsClient,
        prefix: str,
        service: str,
        replica: str,
        *,
        raw_arguments: bool = False,
        buffer: int = 100_000,
        timeout: float = 5.0,
    ) -> None:
        self.nc = nc
        self.stream = audit_stream_name(prefix)
        self.subject = f"{prefix}.audit.{service}"
        self.service = service
        self.replica = replica
        self.raw_arguments = raw_arguments
        self.timeout = timeout
        self.queue: asyncio.Queue[AuditEvent] = asyncio.Queue(maxsize=buffer)
        self.dropped = 0
        self.published = 0
        self._head: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ the hook

    def record(
        self,
        kind: str,
        tool: str | None,
        session: SessionState,
        arguments: Any,
        outcome: str,
        seconds: float,
        *,
        principal: str | None = None,
        credential: Literal["user", "shared"] | None = None,
    ) -> None:
        """The service's audit hook: build the event and queue it (never blocks).
        ``principal`` is the caller's key (the session holds only a binding digest)."""
        raw = bytes(arguments) if isinstance(arguments, (bytes, msgspec.Raw)) else None
        if raw is None and arguments is not None:
            raw = msgspec.json.encode(arguments)
        event = AuditEvent(
            time=time.time(),
            service=self.service,
            replica=self.replica,
            kind=kind,
            tool=tool,
            principal=principal,
            credential=credential,
            session=digest(session.id),
            arguments_sha256=hashlib.sha256(raw).hexdigest() if raw is not None else None,
            arguments=msgspec.json.decode(raw) if self.raw_arguments and raw else None,
            outcome=outcome,
            duration_ms=round(seconds * 1000, 3),
        )
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    # ------------------------------------------------------------ publishing

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self, flush: float = 3.0) -> None:
        """Publish what is queued (for up to ``flush`` seconds), then stop."""
        if self._task is not None and self.nc.is_connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), flush)
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            if self.dropped:
                gap = AuditEvent(
                    time=time.time(),
                    service=self.service,
                    replica=self.replica,
                    kind="gap",
                    outcome="dropped",
                    duration_ms=0.0,
                    dropped=self.dropped,
                )
                self.dropped = 0
                await self._publish(msgspec.json.encode(gap))
            await self._publish(msgspec.json.encode(event))
            self.queue.task_done()

    async def _publish(self, body: bytes) -> None:
        """Append one event to the chain; retries until it is in (NATS may be away)."""
        js = self.nc.jetstream(timeout=self.timeout)
        while True:
            try:
                if self._head is None:
                    self._head = await load_head(js, self.stream)
                seq, prev = self._head
                digest_ = chain_hash(prev, body)
                ack = await js.publish(
                    self.subject,
                    body,
                    headers={
                        api.Header.EXPECTED_LAST_SEQUENCE: str(seq),
                        PREV_HEADER: prev,
                        HASH_HEADER: digest_,
                    },
                )
                self._head = (ack.seq, digest_)
                self.published += 1
                return
            except APIError as exc:
                self._head = None
                if exc.err_code != _WRONG_LAST_SEQUENCE:
                    log.warning("audit_publish_refused", error=str(exc))
                    await asyncio.sleep(0.5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._head = None
                log.debug("audit_publish_retry", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)


async def load_head(js: Any, stream: str) -> tuple[int, str]:
    """The last event's sequence and hash (``(0, GENESIS)`` for an empty stream)."""
    info = await js.stream_info(stream)
    last = info.state.last_seq
    if last == 0 or info.state.messages == 0:
        return last, GENESIS
    try:
        message = await js.get_msg(stream, seq=last)
    except NotFoundError:
        return last, GENESIS
    return last, (message.headers or {}).get(HASH_HEADER, GENESIS)


# ------------------------------------------------------------ reading and verifying


class StoredEvent(msgspec.Struct):
    seq: int
    prev: str
    hash: str
    body: bytes

    def event(self) -> AuditEvent | None:
        try:
            return msgspec.json.decode(self.body, type=AuditEvent)
        except msgspec.DecodeError:
            return None


async def read_events(
    js: Any, stream: str, start: int = 1, stop: int | None = None
) -> AsyncIterator[StoredEvent]:
    """The stream's messages from ``start`` up to ``stop`` (default: the last one now)."""
    info = await js.stream_info(stream)
    last = info.state.last_seq if stop is None else stop
    seq = max(start, info.state.first_seq, 1)
    while seq <= last:
        try:
            message = await js.get_msg(stream, seq=seq, next=True)
        except NotFoundError:
            return
        if message.seq is None or message.seq > last:
            return
        headers = message.headers or {}
        yield StoredEvent(
            message.seq,
            headers.get(PREV_HEADER, ""),
            headers.get(HASH_HEADER, ""),
            message.data or b"",
        )
        seq = message.seq + 1


class Verdict(msgspec.Struct):
    ok: bool
    checked: int
    head: str
    problems: list[str]


def verify_chain(events: list[StoredEvent], first_seq: int = 1) -> Verdict:
    """Check every link: sequence without holes, prev = hash before, hash = SHA-256."""
    problems: list[str] = []
    prev = GENESIS if first_seq == 1 else None
    expected_seq = first_seq
    for stored in events:
        if stored.seq != expected_seq:
            problems.append(f"events {expected_seq}..{stored.seq - 1} are missing")
        if prev is not None and stored.prev != prev:
            problems.append(f"event {stored.seq}: its prev does not match the event before it")
        if chain_hash(stored.prev, stored.body) != stored.hash:
            problems.append(f"event {stored.seq}: its content does not match its hash (altered)")
        elif stored.event() is None:
            problems.append(f"event {stored.seq}: not a readable audit event")
        prev = stored.hash
        expected_seq = stored.seq + 1
    head = prev or GENESIS
    return Verdict(ok=not problems, checked=len(events), head=head, problems=problems)


async def verify_stream(js: Any, stream: str) -> Verdict:
    info = await js.stream_info(stream)
    events = [e async for e in read_events(js, stream)]
    verdict = verify_chain(events, info.state.first_seq or 1)
    if events and info.state.first_seq > 1 and events[0].prev != GENESIS:
        # Older events aged out by the retention limits: the chain starts mid-way.
        verdict.problems.insert(
            0, f"note: events before {info.state.first_seq} were removed by the retention limits"
        )
    return verdict


# ------------------------------------------------------------ the `mcpmesh audit` command


async def _connect(url: str) -> NatsClient:
    import nats as nats_module

    return await nats_module.connect(
        servers=[u.strip() for u in url.split(",") if u.strip()],
        connect_timeout=3,
        max_reconnect_attempts=0,
        allow_reconnect=False,
    )


async def tail_command(url: str, prefix: str, count: int, stream: str | None = None) -> int:
    """Print the last ``count`` audit events as JSON lines (seq, hash and the event)."""
    nc = await _connect(url)
    try:
        js = nc.jetstream(timeout=5)
        name = stream or audit_stream_name(prefix)
        info = await js.stream_info(name)
        start = max(info.state.first_seq, info.state.last_seq - count + 1, 1)
        async for stored in read_events(js, name, start):
            line = {"seq": stored.seq, "hash": stored.hash[:16], "event": stored.event()}
            print(msgspec.json.encode(line).decode(), flush=True)
    finally:
        await nc.close()
    return 0


async def verify_command(url: str, prefix: str, stream: str | None = None) -> int:
    """Check the whole chain; exit 0 when intact, 1 (naming each break) when not."""
    nc = await _connect(url)
    try:
        verdict = await verify_stream(nc.jetstream(timeout=5), stream or audit_stream_name(prefix))
    finally:
        await nc.close()
    for problem in verdict.problems:
        print(problem)
    state = "intact" if verdict.ok else "BROKEN"
    print(f"audit chain {state}: {verdict.checked} events checked, head {verdict.head}")
    return 0 if verdict.ok else 1
