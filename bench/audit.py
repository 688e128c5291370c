"""Audit benchmark: 3 replicas share one session under sustained load; nothing may be lost.

Three fixture replicas (separate processes) share a nats-server started for the run, as
deployed (``bench._nats``: each logs in with the fixture's NKEY and its permissions).
One MCP session is opened on the first; wrk (`bench._wrk`, a thread per replica) then POSTs
``tools/call test_simple_text`` with that session for ``BENCH_AUDIT_SECONDS`` (default
15; ``--long`` or ``BENCH_AUDIT_SECONDS=60`` for the full minute). The replicas are
stopped (a graceful stop publishes what is buffered and a final checkpoint), every
stored event is read back and every chain verified, and the events are counted against
the calls wrk saw answered: ``lost`` must be 0. The same load without the bus (each
replica its own in-process session) gives the bus-off figure beside it. Last, one
replica's publisher alone: how fast 200,000 buffered events become acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._nats import DeployedNats, deployed_nats
from bench._wrk import run_wrk, tool_call_body
from bench.protocol import initialized_session, post
from mcpmesh.bus.audit import Auditor, audit_stream_name, read_stream, verify_events
from mcpmesh.embedded.process import free_port
from mcpmesh.guard.sealing import write_key_file
from mcpmesh.protocol.session import SessionState

SECONDS = int(os.environ.get("BENCH_AUDIT_SECONDS", "60" if "--long" in sys.argv else "15"))
REPLICAS = 3
CONNECTIONS = 4  # per replica
PREFIX = "mcpmesh"
SERVICE = "fixture"
VERSION = "2025-06-18"  # what bench.protocol.post sends

BODY = tool_call_body("test_simple_text", "{}")


def start_replica(
    bus_env: dict[str, str] | None, key_file: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "MCPMESH_LOG_LEVEL": "warning", "MCPMESH_NATS_URL": ""}
    env.update(bus_env or {})
    env["MCPMESH_STATE_KEY_FILE"] = str(key_file)  # replicas share the requestState key
    process = subprocess.Popen(
        [sys.executable, "-m", "mcpmesh", "serve", SERVICE, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    return process, f"http://127.0.0.1:{port}/mcp"


def wait_session(url: str, process: subprocess.Popen[bytes]) -> tuple[str, str]:
    deadline = time.monotonic() + 30
    while True:
        try:
            return open_session_fixture(url)
        except (OSError, KeyError, AssertionError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"replica at {url} did not start") from None
            time.sleep(0.05)


def open_session_fixture(url: str) -> tuple[str, str]:
    """An initialized session, checked with one call of the tool the load calls."""
    session = initialized_session(url)
    call = {"name": "test_simple_text", "arguments": {}}
    _, body = post(
        url, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}, session
    )
    assert b'"result"' in body, body[:300]
    return session, VERSION


def run_load(urls: list[str], session_of: list[tuple[str, str]]) -> dict[str, int]:
    """CONNECTIONS connections on each replica for SECONDS, one wrk thread per replica."""
    sessions: list[str | None] = [session for session, _ in session_of]
    load = run_wrk(urls, sessions, BODY, CONNECTIONS * len(urls), SECONDS, version=VERSION)
    return {"answered": load.answered - load.bad, "bad": load.bad}


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(60)


async def count_stored(bus: DeployedNats) -> tuple[int, int, bool, list[str]]:
    """(tool events, chains, every chain intact, problems) from the audit stream."""
    nc = await bus.connect()  # as the operator, as `mcpmesh audit verify` reads it
    try:
        js = nc.jetstream(timeout=10)
        messages = [m async for m in read_stream(js, audit_stream_name(PREFIX))]
    finally:
        await nc.close()
    verdict = await verify_events(messages)
    tools = sum(m.body.count(b'"kind":"tool"') for m in messages if not m.checkpoint)
    return tools, len(verdict.chains), verdict.ok, verdict.problems[:5]


def one_run(bus_env: dict[str, str] | None, home: Path) -> dict[str, int]:
    key_file = write_key_file(home / "state-keys.json")
    replicas = [start_replica(bus_env, key_file) for _ in range(REPLICAS)]
    try:
        if bus_env:  # one session, shared by every replica through the bus
            shared = wait_session(replicas[0][1], replicas[0][0])
            for process, url in replicas[1:]:
                wait_session(url, process)
            sessions = [shared] * REPLICAS
        else:  # no bus: a session lives in one replica only
            sessions = [wait_session(url, process) for process, url in replicas]
        result = run_load([url for _, url in replicas], sessions)
    finally:
        stop([process for process, _ in replicas])
    return result


async def publisher_rate(bus: DeployedNats, events: int = 200_000) -> float:
    """One replica's publisher alone: events/s from buffered to acknowledged, as the
    fixture's NATS user, into the audit stream (a chain of its own, after the count)."""
    nc = await bus.connect(SERVICE)
    try:
        auditor = Auditor(nc, PREFIX, SERVICE, "benchpub", buffer=events)
        session = SessionState(id="bench-session", protocol_version=VERSION)
        for _ in range(events):
            auditor.record("tool", "test_simple_text", session, b"{}", "ok", 0.0001)
        started = time.perf_counter()
        auditor.start()
        await auditor.flushed()
        elapsed = time.perf_counter() - started
        await auditor.stop()
    finally:
        await nc.close()
    return events / elapsed


async def run() -> tuple[dict[str, int], dict[str, int], tuple[int, int, bool, list[str]]]:
    with tempfile.TemporaryDirectory() as home:
        off = await asyncio.to_thread(one_run, None, Path(home))
        async with deployed_nats(Path(home) / "nats", [SERVICE], PREFIX) as bus:
            on = await asyncio.to_thread(one_run, bus.env(), Path(home))
            counted = await count_stored(bus)
            on["publisher"] = int(await publisher_rate(bus))
            return off, on, counted


def main() -> int:
    off, on, (stored, chains, intact, problems) = asyncio.run(run())
    lost = max(0, on["answered"] - stored)
    print(
        f"{REPLICAS} replicas x {CONNECTIONS} connections, {SECONDS} s of tools/call "
        "(one shared session with the bus)"
    )
    print(f"  bus off  {off['answered'] / SECONDS:9.0f} calls/s   ({off['answered']} answered)")
    print(
        f"  bus on   {on['answered'] / SECONDS:9.0f} calls/s   ({on['answered']} answered, "
        f"{on['bad']} errors)"
    )
    print(
        f"  audit    {stored} tool events stored in {chains} chains, "
        f"{'all intact' if intact else 'BROKEN'}; lost {lost} "
        f"(+{stored - on['answered']} for calls still in flight when wrk stopped)"
    )
    print(f"  publisher alone (one chain, 200000 buffered events): {on['publisher']} events/s")
    for problem in problems:
        print(f"    {problem}")
    return 0 if lost == 0 and intact and on["bad"] == 0 else 1
