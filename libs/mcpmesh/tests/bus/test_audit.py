"""The audit stream: one chained event per tool call, sampling request and elicitation,
from several replicas at once; ``mcpmesh audit verify`` passes an intact chain and names
the event when one is altered or removed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from typing import Any

import aiohttp
import msgspec
import nats
from nats.js import api

from mcpmesh import Context, Service
from mcpmesh.bus.audit import (
    CHAIN_HEADER,
    CHECKPOINT_HEADER,
    HASH_HEADER,
    PREV_HEADER,
    SEQ_HEADER,
    StoredEvent,
    audit_stream_name,
    read_stream,
    verify_stream,
)
from mcpmesh.bus.settings import BusSettings
from mcpmesh.testing import RawClient, read_sse


class Note(msgspec.Struct):
    text: str


def build() -> Service:
    service = Service("audit-test", version="0")

    @service.tool()
    async def note(ctx: Context, args: Note) -> str:
        """Echoes."""
        return args.text

    @service.tool()
    async def ask(ctx: Context) -> str:
        """Asks the user."""
        await ctx.confirm("Go?")  # anything but a yes ends the call with "Not done"
        return "yes"

    return service


def cli(settings: BusSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCPMESH_NATS_URL": settings.url, "MCPMESH_NATS_PREFIX": settings.prefix}
    return subprocess.run(
        [sys.executable, "-m", "mcpmesh", "audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


async def make_events(bus_settings: BusSettings, replica: Any) -> None:
    async with (
        replica(build(), bus_settings) as a,
        replica(build(), bus_settings) as b,
        aiohttp.ClientSession() as http,
    ):
        clients = []
        for url in (a.url, b.url):
            client = RawClient(http, url)
            await client.initialize()
            clients.append(client)
        calls = [
            c.call("tools/call", {"name": "note", "arguments": {"text": f"secret-{i}"}})
            for i in range(10)
            for c in clients
        ]
        await asyncio.gather(*calls)
        await clients[0].call("tools/call", {"name": "nope", "arguments": {}})
        for r in (a, b):
            await asyncio.wait_for(r.bus.auditor.flushed(), 10)


async def test_chain_from_two_replicas_is_intact_and_keeps_no_raw_arguments(
    bus_settings: BusSettings, replica: Any
) -> None:
    await make_events(bus_settings, replica)
    nc = await nats.connect(bus_settings.url)
    try:
        js = nc.jetstream()
        stream = audit_stream_name(bus_settings.prefix)
        stored = [e async for e in read_stream(js, stream) if not e.checkpoint]
        events = [e for s in stored for e in s.events() if e is not None]
        assert len(events) == 21
        # One chain per replica, each numbered from 1 without holes.
        chains = {s.chain for s in stored}
        assert len(chains) == 2 and len({e.replica for e in events}) == 2
        for chain in chains:
            seqs = sorted(
                seq for s in stored if s.chain == chain for seq in range(s.seq, s.last + 1)
            )
            assert seqs == list(range(1, len(seqs) + 1))
        assert sum(e.outcome == "ok" for e in events) == 20
        assert any(e.tool == "nope" and e.outcome.startswith("rejected") for e in events)
        assert all(e.service == "audit-test" and e.arguments_sha256 for e in events)
        assert all(b"secret-" not in s.body for s in stored)
        assert all(len(e.session or "") == 32 for e in events)  # a digest, not the id
        verdict = await verify_stream(js, stream)
        assert verdict.ok and verdict.checked == 21, verdict.problems
        # The replicas stopped: each chain ends in a final checkpoint covering all of it.
        assert all(c.final and c.covered == c.events for c in verdict.chains)
    finally:
        await nc.close()
    done = cli(bus_settings, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit trail intact: 21 events checked in 2 chains" in done.stdout
    assert "checkpoints are UNSIGNED" in done.stdout  # no Vault here: said plainly
    exported = cli(bus_settings, "export", "--from-seq", "1")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sum("event" in line for line in lines) == 21
    assert sum(line.get("checkpoint", {}).get("final", False) for line in lines) == 2
    first = next(line for line in lines if line.get("seq") == 1)
    assert first["prev"] == "0" * 64 and len(first["hash"]) == 64
    assert first["event"]["service"] == "audit-test"
    tail = cli(bus_settings, "tail", "-n", "1")
    assert "checkpoint" in json.loads(tail.stdout.splitlines()[-1])


async def copy_stream(js: Any, source: str, target: str, alter: Any) -> None:
    """An attacker's rewrite: the same messages into a new stream, ``alter`` applied."""
    await js.add_stream(api.StreamConfig(name=target, subjects=[f"{target}.x"]))
    async for stored in read_stream(js, source):
        changed = alter(stored)
        if changed is None:
            continue
        await js.publish(f"{target}.x", changed.body, headers=headers_of(changed))


def headers_of(stored: StoredEvent) -> dict[str, str]:
    if stored.checkpoint:
        return {CHAIN_HEADER: stored.chain, CHECKPOINT_HEADER: "1"}
    return {
        CHAIN_HEADER: stored.chain,
        SEQ_HEADER: str(stored.seq),
        PREV_HEADER: stored.prev,
        HASH_HEADER: stored.hash,
    }


async def test_verify_catches_an_altered_and_a_removed_event(
    bus_settings: BusSettings, replica: Any
) -> None:
    await make_events(bus_settings, replica)
    source = audit_stream_name(bus_settings.prefix)
    nc = await nats.connect(bus_settings.url)
    try:
        js = nc.jetstream()
        async for first in read_stream(js, source):
            chain = first.chain
            break

        def hit(stored: StoredEvent, seq: int) -> bool:
            return (
                stored.chain == chain and not stored.checkpoint and stored.seq <= seq <= stored.last
            )

        def altered(stored: StoredEvent) -> StoredEvent:
            if hit(stored, 7):
                body = stored.body.replace(b'"outcome":"ok"', b'"outcome":"error"')
                return msgspec.structs.replace(stored, body=body)
            return stored

        def cut(stored: StoredEvent) -> StoredEvent | None:
            return None if hit(stored, 5) else stored

        await copy_stream(js, source, f"{source}_ALTERED", altered)
        await copy_stream(js, source, f"{source}_CUT", cut)
        # The real stream refuses the simplest tampering outright.
        try:
            await js.delete_msg(source, 3)
            deleted = True
        except nats.js.errors.APIError:
            deleted = False
        assert not deleted
    finally:
        await nc.close()
    done = cli(bus_settings, "verify", "--stream", f"{source}_ALTERED")
    assert done.returncode == 1
    assert re.search(
        rf"chain {chain}: events? [0-9.]+ \(stream seq \d+\): the content", done.stdout
    )
    assert "does not match its hash (altered)" in done.stdout
    assert "BROKEN" in done.stdout
    cut_run = cli(bus_settings, "verify", "--stream", f"{source}_CUT")
    assert cut_run.returncode == 1
    removed = re.search(
        rf"chain {chain}: events? (\d+)(?:\.\.(\d+))? (?:was|were) removed", cut_run.stdout
    )
    assert removed, cut_run.stdout
    assert int(removed[1]) <= 5 <= int(removed[2] or removed[1])


async def test_elicitation_is_audited(bus_settings: BusSettings, replica: Any) -> None:
    async with replica(build(), bus_settings) as a, aiohttp.ClientSession() as http:
        client = RawClient(http, a.url)
        await client.initialize({"elicitation": {}})
        response = await client.post(
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "ask"}}
        )
        events = read_sse(response)
        async for event in events:
            if event.data:
                asked = event.json()
                break
        answer = {"action": "decline"}
        posted = await client.post({"jsonrpc": "2.0", "id": asked["id"], "result": answer})
        assert posted.status == 202
        async for event in events:
            if event.data and event.json().get("id") == 3:
                assert event.json()["result"]["content"][0]["text"].startswith("Not done")
                break
        await asyncio.wait_for(a.bus.auditor.flushed(), 10)
    nc = await nats.connect(bus_settings.url)
    try:
        js = nc.jetstream()
        stream = audit_stream_name(bus_settings.prefix)
        stored = [e async for e in read_stream(js, stream) if not e.checkpoint]
    finally:
        await nc.close()
    events = [e for s in stored for e in s.events() if e is not None]
    assert [(e.kind, e.tool, e.outcome) for e in events] == [
        ("elicitation", "ask", "decline"),
        ("tool", "ask", "error"),
    ]
