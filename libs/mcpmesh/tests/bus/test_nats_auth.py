"""NATS with the mesh's generated config: every component authenticates with its own
NKEY, and a service reaches only what carries its name (a real nats-server)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import nats
import pytest
import trustme
from nats.aio.client import Client as NatsClient
from nats.js import api

from mcpmesh import Context, Service
from mcpmesh.bus.audit import audit_stream_name, read_stream, stream_config, verify_events
from mcpmesh.bus.cluster import Bus, ensure_stream
from mcpmesh.bus.connect import NatsCredentialError, connect_options
from mcpmesh.bus.names import events_stream, replay_bucket
from mcpmesh.bus.permissions import OPERATOR, Credentials, service_permissions
from mcpmesh.bus.replay import KvReplayCache
from mcpmesh.bus.settings import BusSettings
from mcpmesh.embedded.nats import NatsServer, start_secured_nats
from mcpmesh.testing import RawClient

PREFIX = "mcpmesh"
SERVICES = ["github", "slack", "echo-svc"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatsServer, Credentials]]:
    loop = asyncio.new_event_loop()
    server, credentials = loop.run_until_complete(
        start_secured_nats(tmp_path_factory.mktemp("nats-auth"), SERVICES, PREFIX)
    )
    yield server, credentials
    loop.run_until_complete(server.stop())
    loop.close()


class Connection:
    """A NATS connection as one component, recording the server's refusals."""

    def __init__(self) -> None:
        self.nc = NatsClient()
        self.errors: list[str] = []
        self.refused = asyncio.Event()

    async def _error(self, exc: Exception) -> None:
        self.errors.append(str(exc))
        if "permissions violation" in str(exc).lower():
            self.refused.set()

    async def wait_refused(self) -> str:
        """The server's next refusal (nats-py reports it lower-cased)."""
        await asyncio.wait_for(self.refused.wait(), 5)
        self.refused.clear()
        return self.errors[-1]


@contextlib.asynccontextmanager
async def connect_as(
    secured: tuple[NatsServer, Credentials], name: str
) -> AsyncIterator[Connection]:
    server, credentials = secured
    settings = BusSettings(url=server.url, prefix=PREFIX, nkey_seed_file=credentials.template)
    connection = Connection()
    await connection.nc.connect(
        **connect_options(settings, name),
        error_cb=connection._error,
        max_reconnect_attempts=0,
        allow_reconnect=False,
    )
    try:
        yield connection
    finally:
        await connection.nc.close()


async def test_an_unauthenticated_connection_is_refused(
    secured: tuple[NatsServer, Credentials],
) -> None:
    server, _ = secured
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server.url, max_reconnect_attempts=0, allow_reconnect=False)


async def test_a_foreign_seed_is_refused(
    secured: tuple[NatsServer, Credentials], tmp_path: Path
) -> None:
    server, _ = secured
    stranger = Credentials(tmp_path / "other")
    stranger.ensure(["github"])  # a valid NKEY, but not one the server knows
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            server.url,
            nkeys_seed=str(stranger.seed_file("github")),
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )


def test_a_seed_file_others_can_read_is_refused_before_connecting(
    secured: tuple[NatsServer, Credentials], tmp_path: Path
) -> None:
    server, credentials = secured
    loose = tmp_path / "github.nk"
    loose.write_bytes(credentials.seed_file("github").read_bytes())
    loose.chmod(0o644)
    settings = BusSettings(url=server.url, nkey_seed_file=str(tmp_path / "{service}.nk"))
    with pytest.raises(NatsCredentialError, match="readable by others"):
        connect_options(settings, "github")


def test_reserved_names_cannot_be_services() -> None:
    for name in ("audit", "events", "sampling", "operator"):
        with pytest.raises(ValueError, match="cannot be named"):
            service_permissions(PREFIX, name)


async def test_slack_cannot_read_githubs_session_bucket(
    secured: tuple[NatsServer, Credentials],
) -> None:
    async with connect_as(secured, "github") as github, connect_as(secured, "slack") as slack:
        kv = await github.nc.jetstream(timeout=3).create_key_value(
            bucket=f"{PREFIX}_sessions_github", ttl=60, history=1
        )
        await kv.put("session-1", b"github's session state")
        js = slack.nc.jetstream(timeout=1)
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await js.key_value(f"{PREFIX}_sessions_github")
        assert f"kv_{PREFIX}_sessions_github" in await slack.wait_refused()
        # Reading the messages directly is refused too.
        got: list[Any] = []

        async def keep(msg: Any) -> None:
            got.append(msg)

        await slack.nc.subscribe(f"$KV.{PREFIX}_sessions_github.>", cb=keep)
        assert "subscription" in await slack.wait_refused()
        await kv.put("session-1", b"changed")
        await slack.nc.flush()
        assert got == []
        # Nor may a service delete a bucket, even its own: that is the operator's.
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await github.nc.jetstream(timeout=1).delete_key_value(f"{PREFIX}_sessions_github")
        assert "stream.delete" in await github.wait_refused()


async def test_a_dpop_proof_is_shared_in_githubs_own_replay_bucket_only(
    secured: tuple[NatsServer, Credentials],
) -> None:
    """The DPoP replay cache works with the service's credential (two replicas refuse
    the second use of one proof) and is github's alone."""
    bucket = replay_bucket(PREFIX, "github")
    async with (
        connect_as(secured, "github") as a,
        connect_as(secured, "github") as b,
        connect_as(secured, "slack") as slack,
    ):
        replicas = []
        for connection in (a, b):
            cache = KvReplayCache(timeout=3)
            cache.kv = await connection.nc.jetstream(timeout=3).create_key_value(
                bucket=bucket, ttl=60, history=1
            )
            replicas.append(cache)
        assert await replicas[0].first_use("jkt:jti-1", 0.0)
        assert not await replicas[1].first_use("jkt:jti-1", 0.0)  # replayed elsewhere
        assert a.errors == [] and b.errors == []
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await slack.nc.jetstream(timeout=1).key_value(bucket)
        assert f"kv_{bucket}".lower() in await slack.wait_refused()


async def test_slack_cannot_answer_githubs_pending_elicitation(
    secured: tuple[NatsServer, Credentials],
) -> None:
    # A github replica waits for the client's answer to its elicitation on this subject.
    waiting = f"{PREFIX}.github.replica.0a1b2c3d.response"
    async with (
        connect_as(secured, "github") as github,
        connect_as(secured, "slack") as slack,
        connect_as(secured, OPERATOR) as operator,
    ):
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def answer(msg: Any) -> None:
            await received.put(msg.data)
            await msg.respond(b"")

        await github.nc.subscribe(waiting, cb=answer)
        await github.nc.flush()
        await slack.nc.publish(waiting, b'{"action":"accept","content":{"confirm":true}}')
        assert waiting in await slack.wait_refused()
        # What reaches the replica next is the operator's control message, not slack's.
        await operator.nc.publish(waiting, b"control")
        assert await asyncio.wait_for(received.get(), 5) == b"control"
        assert received.empty()


async def test_slack_cannot_publish_github_audit_events(
    secured: tuple[NatsServer, Credentials],
) -> None:
    async with connect_as(secured, "slack") as slack, connect_as(secured, OPERATOR) as operator:
        js = slack.nc.jetstream(timeout=1)
        stream = audit_stream_name(PREFIX)
        before = (await operator.nc.jetstream().stream_info(stream)).state.messages
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await js.publish(f"{PREFIX}.audit.github.0a1b2c3d", b'{"kind":"tool"}')
        assert f"{PREFIX}.audit.github" in await slack.wait_refused()
        # Its own audit subject is fine (the control), and nothing else arrived.
        ack = await js.publish(f"{PREFIX}.audit.slack.0a1b2c3d", b"{}")
        assert ack.stream == stream
        after = (await operator.nc.jetstream().stream_info(stream)).state.messages
        assert after == before + 1


def build() -> Service:
    service = Service("echo-svc", version="0")

    @service.tool()
    async def hello(ctx: Context) -> str:
        """Says hello."""
        return "hello"

    return service


async def test_a_service_runs_with_its_own_credential_only(
    secured: tuple[NatsServer, Credentials], replica: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated permissions are enough for everything the bus does: KV sessions,
    the events stream, routing, audit (and two replicas share a session)."""
    refusals: list[str] = []

    async def record(self: Bus, exc: Exception) -> None:
        refusals.append(str(exc))

    monkeypatch.setattr(Bus, "_error", record)
    server, credentials = secured
    settings = BusSettings(
        url=server.url, prefix=PREFIX, nkey_seed_file=credentials.template, request_timeout=3.0
    )
    async with (
        replica(build(), settings) as a,
        replica(build(), settings) as b,
        aiohttp.ClientSession() as http,
    ):
        first = RawClient(http, a.url)
        await first.initialize()
        other = RawClient(http, b.url)
        other.session_id = first.session_id
        for client in (first, other):
            reply = await client.call("tools/call", {"name": "hello"})
            assert reply["result"]["content"][0]["text"] == "hello"
        assert await a.bus.readiness() is None and await b.bus.readiness() is None
        for r in (a, b):
            await asyncio.wait_for(r.bus.auditor.flushed(), 10)
    async with connect_as(secured, OPERATOR) as operator:
        js = operator.nc.jetstream(timeout=5)
        messages = [m async for m in read_stream(js, audit_stream_name(PREFIX))]
    verdict = await verify_events([m for m in messages if m.chain.startswith("echo-svc.")])
    assert verdict.ok and verdict.checked == 2, verdict.problems
    assert refusals == []


async def test_tls_to_nats(tmp_path: Path) -> None:
    """With TLS on the server, a component that trusts its CA connects (and works); one
    that does not, or that speaks plain text, gets nothing."""
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    tls = {"cert_file": str(cert_file), "key_file": str(key_file)}
    server, credentials = await start_secured_nats(
        tmp_path / "nats", ["github"], PREFIX, tls=tls, tls_ca_file=str(ca_file)
    )
    try:
        settings = BusSettings(
            url=server.url,
            prefix=PREFIX,
            nkey_seed_file=credentials.template,
            tls_ca_file=str(ca_file),
        )
        nc = await nats.connect(**connect_options(settings, "github"), allow_reconnect=False)
        try:
            kv = await nc.jetstream(timeout=3).create_key_value(
                bucket=f"{PREFIX}_sessions_github", ttl=60, history=1
            )
            await kv.put("k", b"over tls")
            assert (await kv.get("k")).value == b"over tls"
        finally:
            await nc.close()
        stranger_ca = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(stranger_ca))
        wrong = msgspec.structs.replace(settings, tls_ca_file=str(stranger_ca))
        plain = msgspec.structs.replace(settings, tls_ca_file="")
        for refused in (wrong, plain):
            with pytest.raises((ssl.SSLError, nats.errors.Error, OSError)):
                await nats.connect(
                    **connect_options(refused, "github"),
                    connect_timeout=3,
                    max_reconnect_attempts=0,
                    allow_reconnect=False,
                )
    finally:
        await server.stop()


async def test_only_the_operator_shapes_the_audit_stream(
    secured: tuple[NatsServer, Credentials],
) -> None:
    async with connect_as(secured, "github") as github:
        js = github.nc.jetstream(timeout=1)
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await js.update_stream(stream_config(PREFIX, 10, 0.0))  # would drop all but 10
        assert "stream.update" in await github.wait_refused()
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await js.purge_stream(audit_stream_name(PREFIX))
        assert "stream.purge" in await github.wait_refused()


async def test_events_wait_for_the_operator_to_create_the_audit_stream(
    tmp_path: Path, replica: Any
) -> None:
    server, credentials = await start_secured_nats(
        tmp_path / "nats", ["echo-svc"], "late", audit_stream=False
    )
    settings = BusSettings(
        url=server.url, prefix="late", nkey_seed_file=credentials.template, request_timeout=1.0
    )
    try:
        async with replica(build(), settings) as a, aiohttp.ClientSession() as http:
            client = RawClient(http, a.url)
            await client.initialize()
            reply = await client.call("tools/call", {"name": "hello"})
            assert reply["result"]["content"][0]["text"] == "hello"
            assert len(a.bus.auditor.pending) == 1  # no stream yet: kept, not lost
            env = {
                **os.environ,
                "MCPMESH_NATS_URL": server.url,
                "MCPMESH_NATS_PREFIX": "late",
                "MCPMESH_NATS_NKEY_SEED_FILE": credentials.template,
            }
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "mcpmesh", "audit", "init"],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "audit stream LATE_AUDIT" in done.stdout
            await asyncio.wait_for(a.bus.auditor.flushed(), 20)
    finally:
        await server.stop()


async def test_a_service_reads_and_resumes_its_own_event_streams_only(
    secured: tuple[NatsServer, Credentials],
) -> None:
    """What GET streams and Last-Event-ID resumption do on JetStream, with github's own
    credential; slack may not follow github's events."""
    stream = events_stream(PREFIX, "github")
    async with connect_as(secured, "github") as github, connect_as(secured, "slack") as slack:
        js = github.nc.jetstream(timeout=3)
        config = api.StreamConfig(
            name=stream, subjects=[f"{PREFIX}.events.github.>"], storage=api.StorageType.MEMORY
        )
        await ensure_stream(js, config)
        subject = f"{PREFIX}.events.github.session1.g"
        await github.nc.publish(subject, b"event-1")
        await github.nc.flush()
        last = await js.get_last_msg(stream, subject)
        assert last.data == b"event-1"
        sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
        assert (await sub.next_msg(timeout=5)).data == b"event-1"
        await sub.unsubscribe()
        with pytest.raises((nats.errors.TimeoutError, TimeoutError)):
            await slack.nc.jetstream(timeout=1).subscribe(
                subject, stream=stream, ordered_consumer=True
            )
        assert stream.lower() in await slack.wait_refused()
        assert github.errors == []
