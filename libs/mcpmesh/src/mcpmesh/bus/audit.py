"""The audit stream: one event per tool call, sampling request and elicitation, hash-chained.

Every replica writes its own chain, so replicas never wait on one another: chain id
``<service>.<replica>``, subject ``P.audit.<service>.<replica>``, all in the JetStream
stream ``P_AUDIT`` (file storage; delete and purge denied). Each event has its place in
its chain: seq 1, 2, … and hash = SHA-256 over the previous hash, chain, seq and the
event's JSON. A message holds a block of consecutive events of one chain (one JSON
object a line); its headers say where it sits — ``Mcp-Audit-Chain``, ``Mcp-Audit-Seq``
(the first event's seq), ``Mcp-Audit-Prev`` (the hash before it), ``Mcp-Audit-Hash``
(its last event's hash) — and ``Nats-Msg-Id`` = ``<chain>:<seq>``, so a publish retried
after a lost acknowledgement is stored once.

Nothing is dropped, at full speed: the hot path appends the event to a buffer; a
publisher sends up to :data:`WINDOW` blocks at once (JetStream async publishes) and
waits for every acknowledgement, publishing again what was not acknowledged — through a
NATS outage too. A call is admitted only while the buffer has room; when it is full the
call waits for room (``audit_when_full = "wait"``, up to ``audit_wait_seconds``) or is
refused at once (``"fail"``) — with a clear error, before it runs.

Checkpoints (every ``audit_checkpoint_events`` events or ``audit_checkpoint_seconds``, and
at shutdown) name a chain's head (seq, hash), signed with the service's OpenBao/Vault
Transit key (``transit/sign/audit-<service>``): the service can ask for signatures but
never read the key, so a credential that can publish on the audit subject still cannot
make its events look covered. :func:`verify_events` walks every chain back from its
signed checkpoints and names forged, altered and removed events by sequence, and the
unsigned tail.

Arguments are recorded as a SHA-256 digest (raw arguments only when configured), and
sessions as a digest of their id: the audit trail must not hand out session ids.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import functools
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import msgspec
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import NotFoundError

from mcpmesh.protocol.errors import INTERNAL_ERROR, McpError
from mcpmesh.protocol.session import SessionState
from mcpmesh.secrets.provider import CredentialKind

log = structlog.get_logger("mcpmesh.audit")

CHAIN_HEADER = "Mcp-Audit-Chain"
SEQ_HEADER = "Mcp-Audit-Seq"
PREV_HEADER = "Mcp-Audit-Prev"
HASH_HEADER = "Mcp-Audit-Hash"
#: Present (``1``) on checkpoint messages; their body is a :class:`Checkpoint`.
CHECKPOINT_HEADER = "Mcp-Audit-Checkpoint"
GENESIS = "0" * 64
#: Messages in flight (published, not yet acknowledged) per replica.
WINDOW = 256
#: Most events in one message (a block of consecutive events of one chain). Under load
#: blocks fill up, so JetStream stores and acknowledges one message per BLOCK events.
BLOCK = 64
#: Seconds the publisher lets a short block fill before sending it. A message costs the
#: replica (and the stream's leader) far more than an event in it, and no call waits
#: for its event's acknowledgement, so holding a block this long costs a call nothing;
#: when calls are few an event goes out alone, this much later.
LINGER = 0.005

#: ``async (data) -> signature``: the service's Transit signing call.
Signer = Callable[[bytes], Awaitable[str]]
#: ``async (service, data, signature) -> valid``: the operator's Transit verify call.
SignatureCheck = Callable[[str, bytes, str], Awaitable[bool]]


class AuditEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What one audit record says (the body of the message)."""

    time: float
    service: str
    replica: str
    kind: str
    outcome: str
    duration_ms: float
    tool: str | None = None
    #: ``Principal.key`` of the caller (None when authentication is off).
    principal: str | None = None
    #: Whose upstream credential the call used: ``user`` (the principal's own), ``shared``
    #: (the service's), or None (the call used none).
    credential: CredentialKind | None = None
    session: str | None = None
    arguments_sha256: str | None = None
    arguments: Any = None


class Checkpoint(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A chain's head at one moment, signed (``signature``) when Vault signs for us."""

    chain: str
    seq: int
    hash: str
    time: float
    #: ``vault:v1:…`` from Transit, or None: no signing key (single-process dev).
    signature: str | None = None
    #: The replica stopped: nothing may follow this checkpoint in the chain.
    final: bool = False

    def signed_data(self) -> bytes:
        return checkpoint_data(self.chain, self.seq, self.hash)


def checkpoint_data(chain: str, seq: int, head: str) -> bytes:
    return f"mcpmesh-audit-checkpoint\n{chain}\n{seq}\n{head}".encode()


async def _until_set(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event`` at most ``seconds``. ``asyncio.timeout``, not ``wait_for``: on
    3.11 ``wait_for`` loses a cancel that comes as the event is set — what a stop does."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _cancelling() -> bool:
    """Whether the running task is being cancelled (its stop)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class AuditUnavailable(McpError):
    """The audit trail cannot take this call's event now; the call is not run."""

    def __init__(self, message: str) -> None:
        super().__init__(INTERNAL_ERROR, message)


def audit_stream_name(prefix: str) -> str:
    return f"{prefix.upper()}_AUDIT"


def audit_subject(prefix: str, service: str, replica: str = "*") -> str:
    return f"{prefix}.audit.{service}.{replica}"


def chain_hash(prev: str, chain: str, seq: int, body: bytes) -> str:
    return hashlib.sha256(f"{prev}\n{chain}\n{seq}\n".encode() + body).hexdigest()


@functools.lru_cache(maxsize=4096)  # a session's calls each name it: hash it once
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


async def ensure_audit_stream(js: Any, config: api.StreamConfig) -> None:
    """Create the audit stream when it is missing; bring its limits to ``config`` when
    this credential may (with NATS authentication only the operator may change it)."""
    try:
        info = await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    current = info.config
    if (current.max_msgs, current.max_age or None) == (config.max_msgs, config.max_age):
        return
    try:
        await js.update_stream(config)
    except Exception as exc:
        log.warning("audit_stream_limits_unchanged", error=f"{type(exc).__name__}: {exc}")


class _Sealed(msgspec.Struct):
    """One message of the chain, ready to (re)publish."""

    body: bytes
    headers: dict[str, str]


class Auditor:
    """Buffers audit events from the hot path and publishes them, chained, in order."""

    def __init__(
        self,
        nc: NatsClient,
        prefix: str,
        service: str,
        replica: str,
        *,
        raw_arguments: bool = False,
        buffer: int = 100_000,
        when_full: Literal["wait", "fail"] = "wait",
        wait_seconds: float = 30.0,
        timeout: float = 5.0,
        linger: float = LINGER,
        checkpoint_events: int = 10_000,
        checkpoint_seconds: float = 5.0,
        signer: Signer | None = None,
    ) -> None:
        self.nc = nc
        self.stream = audit_stream_name(prefix)
        self.chain = f"{service}.{replica}"
        self.subject = audit_subject(prefix, service, replica)
        self.service = service
        self.replica = replica
        self.raw_arguments = raw_arguments
        self.buffer = buffer
        self.when_full = when_full
        self.wait_seconds = wait_seconds
        self.timeout = timeout
        self.linger = linger
        self.checkpoint_events = checkpoint_events
        self.checkpoint_seconds = checkpoint_seconds
        self.signer = signer
        self.pending: collections.deque[AuditEvent] = collections.deque()
        #: Events acknowledged by JetStream, and checkpoints written.
        self.published = 0
        self.checkpoints = 0
        #: Calls waiting for room in the buffer right now.
        self.waiting = 0
        self._seq = 0
        self._head = GENESIS
        self._checkpointed = 0
        self._checkpoint_time = time.monotonic()
        self._sign_failed = False
        self._has_events = asyncio.Event()
        self._has_block = asyncio.Event()
        self._has_room = asyncio.Event()
        self._has_room.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------ the hot path

    async def admit(self) -> None:
        """Before a call runs: wait for room in the buffer, or refuse the call clearly."""
        if len(self.pending) < self.buffer:
            return
        if self.when_full == "wait":
            self.waiting += 1
            try:
                await _until_set(self._has_room, self.wait_seconds)
            finally:
                self.waiting -= 1
            if len(self.pending) < self.buffer:
                return
        raise AuditUnavailable(
            f"The audit trail is not keeping up ({len(self.pending)} events wait for NATS), "
            "so this call was not run: nothing may happen unrecorded. Retry in a moment."
        )

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
        credential: CredentialKind | None = None,
    ) -> None:
        """The service's audit hook: build the event and buffer it (never drops it).
        ``principal`` is the caller's key (the session holds only a binding digest)."""
        raw = bytes(arguments) if isinstance(arguments, (bytes, msgspec.Raw)) else None
        if raw is None and arguments is not None:
            raw = msgspec.json.encode(arguments)
        self.pending.append(
            AuditEvent(
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
        )
        self._idle.clear()
        self._has_events.set()
        if len(self.pending) >= BLOCK:
            self._has_block.set()
        if len(self.pending) >= self.buffer:
            self._has_room.clear()

    # ------------------------------------------------------------ publishing

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def flushed(self) -> None:
        """Until every event recorded so far is acknowledged by JetStream."""
        await self._idle.wait()

    async def stop(self, flush: float = 10.0) -> None:
        """Publish what is buffered (for up to ``flush`` seconds), a final checkpoint, stop."""
        if self._task is None:
            return
        self._stopping = True
        self._has_block.set()
        if self.nc.is_connected:
            await _until_set(self._idle, flush)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.pending:
            log.error("audit_events_unpublished", count=len(self.pending), chain=self.chain)
        elif self.nc.is_connected and self._seq:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._checkpoint(final=True), flush)

    async def _run(self) -> None:
        js = self.nc.jetstream(timeout=self.timeout, publish_async_max_pending=WINDOW)
        while True:
            if not self.pending:
                self._idle.set()
                self._has_events.clear()
                await _until_set(self._has_events, self.checkpoint_seconds)
            await self._let_block_fill()
            taken = min(len(self.pending), WINDOW * BLOCK)
            if taken:
                await self._send(js, self._seal(taken))
                for _ in range(taken):
                    self.pending.popleft()
                self.published += taken
                if len(self.pending) < self.buffer:
                    self._has_room.set()
            due = self._seq - self._checkpointed >= self.checkpoint_events or (
                time.monotonic() - self._checkpoint_time >= self.checkpoint_seconds
            )
            if self._seq > self._checkpointed and due:
                await self._checkpoint()

    async def _let_block_fill(self) -> None:
        """Give a short block up to ``linger`` seconds to fill (not while stopping: a
        graceful stop publishes what it has at once)."""
        if 0 < len(self.pending) < BLOCK and self.linger > 0 and not self._stopping:
            self._has_block.clear()
            await _until_set(self._has_block, self.linger)

    def _seal(self, count: int) -> list[_Sealed]:
        """Chain the first ``count`` buffered events into blocks of up to :data:`BLOCK`
        (the events stay buffered until their block is acknowledged)."""
        sealed = []
        events = itertools.islice(self.pending, count)
        for _ in range(0, count, BLOCK):
            first, prev = self._seq + 1, self._head
            lines = []
            for event in itertools.islice(events, BLOCK):
                line = msgspec.json.encode(event)
                self._seq += 1
                self._head = chain_hash(self._head, self.chain, self._seq, line)
                lines.append(line)
            headers = {
                CHAIN_HEADER: self.chain,
                SEQ_HEADER: str(first),
                PREV_HEADER: prev,
                HASH_HEADER: self._head,
                api.Header.MSG_ID: f"{self.chain}:{first}",
            }
            sealed.append(_Sealed(b"\n".join(lines), headers))
        return sealed

    async def _send(self, js: Any, batch: list[_Sealed]) -> None:
        """Publish all of ``batch`` at once; publish again what is not acknowledged."""
        todo, attempt = batch, 0
        while todo:
            futures: dict[asyncio.Future[Any], _Sealed] = {}
            failed: list[_Sealed] = []
            for sealed in todo:
                try:
                    future = await js.publish_async(
                        self.subject, sealed.body, headers=sealed.headers
                    )
                except Exception:
                    failed.append(sealed)
                    continue
                futures[future] = sealed
            if futures:
                done, waiting = await asyncio.wait(futures, timeout=self.timeout)
                for future in waiting:
                    future.cancel()
                    failed.append(futures[future])
                failed.extend(futures[f] for f in done if f.exception() is not None)
            if _cancelling():
                # Stopping: nats-py can swallow a cancel it receives mid-publish (or turn
                # it into an error); the stop deals with what is left unacknowledged.
                raise asyncio.CancelledError
            if failed:
                log.warning("audit_publish_retry", events=len(failed), chain=self.chain)
                await self._pause(attempt)
                attempt += 1
            todo = sorted(failed, key=lambda s: int(s.headers[SEQ_HEADER]))

    async def _pause(self, attempt: int) -> None:
        """Before publishing again: 0.1 s, doubling to 2 s while NATS stays away."""
        await asyncio.sleep(min(2.0, 0.1 * 2**attempt))

    async def _checkpoint(self, final: bool = False) -> None:
        seq, head = self._seq, self._head
        signature = None
        if self.signer is not None:
            try:
                signature = await self.signer(checkpoint_data(self.chain, seq, head))
            except Exception as exc:
                # Written unsigned: a verifier with Vault does not count it (the next
                # signed checkpoint covers these events too, the chain links them).
                if not self._sign_failed:
                    log.warning("audit_checkpoint_unsigned", error=f"{type(exc).__name__}: {exc}")
                self._sign_failed = True
            else:
                self._sign_failed = False
        point = Checkpoint(
            chain=self.chain, seq=seq, hash=head, time=time.time(), signature=signature, final=final
        )
        headers = {
            CHAIN_HEADER: self.chain,
            CHECKPOINT_HEADER: "1",
            # A final checkpoint may name the head a periodic one named: its own id, or
            # JetStream would drop it as a duplicate of that one.
            api.Header.MSG_ID: f"{self.chain}:cp:{seq}{':final' if final else ''}",
        }
        js = self.nc.jetstream(timeout=self.timeout)
        for attempt in itertools.count():
            try:
                await js.publish(self.subject, msgspec.json.encode(point), headers=headers)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("audit_checkpoint_retry", error=f"{type(exc).__name__}: {exc}")
                await self._pause(attempt)
        self._checkpointed, self._checkpoint_time = seq, time.monotonic()
        self.checkpoints += 1


# ------------------------------------------------------------ reading


class StoredEvent(msgspec.Struct, kw_only=True):
    """One message of the audit stream: a block of a chain's events, or a checkpoint."""

    stream_seq: int
    chain: str
    #: The block's first event's sequence in its chain.
    seq: int
    prev: str
    #: The hash of the block's last event.
    hash: str
    body: bytes
    checkpoint: bool = False

    @classmethod
    def from_msg(cls, msg: Msg) -> StoredEvent:
        headers = msg.headers or {}
        try:
            seq = int(headers.get(SEQ_HEADER, "0"))
        except ValueError:
            seq = 0
        return cls(
            stream_seq=msg.metadata.sequence.stream,
            chain=headers.get(CHAIN_HEADER, ""),
            seq=seq,
            prev=headers.get(PREV_HEADER, ""),
            hash=headers.get(HASH_HEADER, ""),
            body=msg.data or b"",
            checkpoint=headers.get(CHECKPOINT_HEADER) == "1",
        )

    @property
    def lines(self) -> list[bytes]:
        return self.body.split(b"\n") if self.body else []

    @property
    def last(self) -> int:
        """The block's last event's sequence."""
        return self.seq + len(self.lines) - 1

    def hashes(self) -> list[str]:
        """Each event's hash, recomputed from the content (the last must be ``hash``)."""
        head, out = self.prev, []
        for offset, line in enumerate(self.lines):
            head = chain_hash(head, self.chain, self.seq + offset, line)
            out.append(head)
        return out

    def events(self) -> list[AuditEvent | None]:
        out: list[AuditEvent | None] = []
        for line in self.lines:
            try:
                out.append(msgspec.json.decode(line, type=AuditEvent))
            except msgspec.DecodeError:
                out.append(None)
        return out

    def as_checkpoint(self) -> Checkpoint | None:
        try:
            return msgspec.json.decode(self.body, type=Checkpoint)
        except msgspec.DecodeError:
            return None

    def records(self) -> list[dict[str, Any]]:
        """The JSON lines ``audit export`` writes: one per event (with its place in the
        chain) or checkpoint (with its signature) — what a SIEM stores."""
        base: dict[str, Any] = {"stream_seq": self.stream_seq, "chain": self.chain}
        if self.checkpoint:
            return [{**base, "checkpoint": msgspec.to_builtins(self.as_checkpoint())}]
        prevs = [self.prev, *self.hashes()]
        return [
            {
                **base,
                "seq": self.seq + offset,
                "prev": prevs[offset],
                "hash": prevs[offset + 1],
                "event": msgspec.to_builtins(event),
            }
            for offset, event in enumerate(self.events())
        ]


async def read_stream(
    js: Any,
    stream: str,
    *,
    start: int | None = None,
    since: datetime.datetime | None = None,
    follow: bool = False,
) -> AsyncIterator[StoredEvent]:
    """The stream's messages in stream order, from ``start`` (a stream sequence) or
    ``since`` (a time), up to the last one now — or on and on with ``follow``."""
    info = await js.stream_info(stream)
    last = info.state.last_seq
    if not follow and (info.state.messages == 0 or (start or 0) > last):
        return
    if start is not None:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=max(start, 1)
        )
    elif since is not None:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_TIME, opt_start_time=since
        )
    else:
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL)
    subjects = info.config.subjects or [">"]
    sub = await js.subscribe(
        subjects[0] if len(subjects) == 1 else ">",
        stream=stream,
        ordered_consumer=True,
        config=config,
        pending_msgs_limit=-1,
        inactive_threshold=30.0,
    )
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=None if follow else 5.0)
            except TimeoutError:
                return  # nothing after `since`, or the stream went quiet: done
            stored = StoredEvent.from_msg(msg)
            yield stored
            if not follow and stored.stream_seq >= last:
                return
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


# ------------------------------------------------------------ verifying


class ChainReport(msgspec.Struct, kw_only=True):
    chain: str
    events: int = 0
    #: Events a (signed, when signing is on) checkpoint covers.
    covered: int = 0
    #: Sequences after the last checkpoint: ``(first, last)`` or None.
    unsigned_tail: tuple[int, int] | None = None
    signed: bool = False
    final: bool = False


class Verdict(msgspec.Struct, kw_only=True):
    ok: bool
    checked: int
    chains: list[ChainReport]
    problems: list[str]
    notes: list[str]

    def chain(self, name: str) -> ChainReport:
        return next(c for c in self.chains if c.chain == name)


async def verify_events(
    messages: list[StoredEvent],
    check_signature: SignatureCheck | None = None,
    retention_cut: bool = False,
) -> Verdict:
    """Check every chain: links, hashes, sequence, and the checkpoints' signatures."""
    chains: dict[str, list[StoredEvent]] = collections.defaultdict(list)
    points: dict[str, list[tuple[StoredEvent, Checkpoint]]] = collections.defaultdict(list)
    problems: list[str] = []
    notes: list[str] = []
    for stored in messages:
        if stored.checkpoint:
            point = stored.as_checkpoint()
            if point is None or point.chain != stored.chain:
                problems.append(f"stream seq {stored.stream_seq}: unreadable checkpoint (forged)")
            else:
                points[stored.chain].append((stored, point))
        elif not stored.chain or stored.seq < 1:
            problems.append(f"stream seq {stored.stream_seq}: not part of any chain (forged)")
        else:
            chains[stored.chain].append(stored)
    reports = []
    any_unsigned = False
    for name in sorted(set(chains) | set(points)):
        report, chain_problems, unsigned = await _verify_chain(
            name, chains[name], points[name], check_signature, retention_cut
        )
        reports.append(report)
        problems.extend(chain_problems)
        any_unsigned |= unsigned
    if any_unsigned:
        notes.append(
            "some checkpoints are UNSIGNED (no Vault Transit key for the service, e.g. "
            "single-process dev): those chains "
            "show loss and damage, not forgery by someone who can publish on NATS"
        )
    for report in reports:
        if report.unsigned_tail is not None:
            first, last = report.unsigned_tail
            notes.append(
                f"chain {report.chain}: events {first}..{last} are after its last checkpoint "
                "(not yet covered by a signature)"
            )
    if retention_cut:
        notes.append("the oldest events were removed by the retention limits")
    checked = sum(r.events for r in reports)
    return Verdict(ok=not problems, checked=checked, chains=reports, problems=problems, notes=notes)


async def _verify_chain(
    name: str,
    blocks: list[StoredEvent],
    points: list[tuple[StoredEvent, Checkpoint]],
    check_signature: SignatureCheck | None,
    retention_cut: bool,
) -> tuple[ChainReport, list[str], bool]:
    problems: list[str] = []
    #: Blocks by their last event's seq (a checkpoint names a block's last event).
    ending: dict[int, list[StoredEvent]] = collections.defaultdict(list)
    for block in blocks:
        hashes = block.hashes()
        if not hashes or hashes[-1] != block.hash:
            problems.append(
                f"chain {name}: {_events(block.seq, block.last)} (stream seq "
                f"{block.stream_seq}): the content does not match its hash (altered)"
            )
            continue
        if None in block.events():
            problems.append(f"chain {name}: {_events(block.seq, block.last)}: unreadable")
        ending[block.last].append(block)
    service = name.rsplit(".", 1)[0]
    anchors: list[Checkpoint] = []
    unsigned = False
    for stored, point in points:
        if point.signature is None:
            # Without Vault at hand every checkpoint counts (and verify says they are
            # unsigned); with it an unsigned one proves nothing: anyone could write it.
            unsigned = True
            if check_signature is None:
                anchors.append(point)
        elif check_signature is None or await check_signature(
            service, point.signed_data(), point.signature
        ):
            anchors.append(point)
        else:
            problems.append(
                f"chain {name}: checkpoint at event {point.seq} (stream seq "
                f"{stored.stream_seq}): its signature does not verify (forged checkpoint)"
            )
    floor = min((b.seq for bs in ending.values() for b in bs), default=1) if retention_cut else 1
    genuine: dict[int, str] = {}
    for point in sorted(anchors, key=lambda p: -p.seq):
        problems.extend(_walk_back(name, point, ending, genuine, floor))
    covered = max((p.seq for p in anchors), default=0)
    for last, candidates in sorted(ending.items()):
        for block in candidates:
            if last <= covered and genuine.get(last) != block.hash:
                problems.append(
                    f"chain {name}: {_events(block.seq, last)} (stream seq {block.stream_seq}) "
                    "forged: no signed checkpoint covers it"
                )
    final = next((p for p in anchors if p.final), None)
    tail = sorted((b for bs in ending.values() for b in bs if b.last > covered), key=_order)
    if final is not None and tail:
        problems.extend(
            f"chain {name}: {_events(b.seq, b.last)} (stream seq {b.stream_seq}) forged: "
            "after the chain's final checkpoint"
            for b in tail
        )
        tail = []
    if covered:
        start, head = covered + 1, genuine.get(covered)
    else:
        start, head = (tail[0].seq, None) if retention_cut and tail else (1, GENESIS)
    problems.extend(_check_tail(name, tail, start, head))
    distinct = {(b.seq, b.hash): len(b.lines) for bs in ending.values() for b in bs}
    report = ChainReport(
        chain=name,
        events=sum(distinct.values()),
        covered=covered,
        unsigned_tail=(tail[0].seq, tail[-1].last) if tail else None,
        signed=bool(anchors) and not unsigned and check_signature is not None,
        final=final is not None,
    )
    return report, problems, unsigned


def _events(first: int, last: int) -> str:
    return f"event {first}" if first == last else f"events {first}..{last}"


def _order(block: StoredEvent) -> tuple[int, int]:
    return block.seq, block.stream_seq


def _walk_back(
    name: str,
    point: Checkpoint,
    ending: dict[int, list[StoredEvent]],
    genuine: dict[int, str],
    floor: int,
) -> list[str]:
    """Follow ``prev`` links down from a checkpoint, marking the genuine block ends."""
    want, last = point.hash, point.seq
    while last >= floor and last >= 1:
        if last in genuine:
            if genuine[last] != want:
                return [f"chain {name}: two checkpoints disagree about event {last}"]
            return []
        match = next((b for b in ending.get(last, []) if b.hash == want), None)
        if match is None:
            below = max((s for s in ending if s < last), default=floor - 1)
            gone = _events(below + 1, last)
            state = "replaced (forged)" if ending.get(last) else "removed"
            return [f"chain {name}: {gone} {'was' if below + 1 == last else 'were'} {state}"]
        genuine[last] = want
        want, last = match.prev, match.seq - 1
    if last == 0 and want != GENESIS:
        return [f"chain {name}: event 1 does not start at the genesis hash"]
    return []


def _check_tail(name: str, tail: list[StoredEvent], expected: int, head: str | None) -> list[str]:
    """The blocks after the last checkpoint: consecutive, linked, one per sequence."""
    problems = []
    seen: dict[int, str] = {}
    for block in tail:
        if seen.get(block.seq) not in (None, block.hash):
            problems.append(f"chain {name}: event {block.seq} exists twice, differently (forged)")
            continue
        if block.seq in seen:
            continue  # the same block stored twice (a retried publish): harmless
        seen[block.seq] = block.hash
        if block.seq > expected:
            problems.append(f"chain {name}: {_events(expected, block.seq - 1)} removed")
        if head is not None and block.prev != head:
            problems.append(f"chain {name}: event {block.seq}: its prev does not match")
        head, expected = block.hash, block.last + 1
    return problems


async def verify_stream(
    js: Any, stream: str, check_signature: SignatureCheck | None = None
) -> Verdict:
    info = await js.stream_info(stream)
    messages = [m async for m in read_stream(js, stream)]
    return await verify_events(messages, check_signature, retention_cut=info.state.first_seq > 1)
