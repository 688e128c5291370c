"""Protocol benchmark: a trivial ``tools/call`` under wrk at concurrency 1, 8 and 32, the
mesh as deployed beside the floor of its stack and two other MCP servers, in one run.

Columns (every server started once, all measured by the same wrk script):

* ``floor``: a bare aiohttp + msgspec JSON echo built here (no session, no checks);
* ``mesh``: the echo service, bus off (one process, in-memory sessions);
* ``mesh+bus``: bus and audit on (NATS, JetStream KV sessions, the audit stream); NATS
  runs as deployed (``bench._nats``): the replicas log in with their NKEY and get only
  their permissions, and each bus column has its own nats-server (one mesh per NATS);
* ``mesh+bus x3``: three such replicas, one session shared through the bus, wrk's threads
  spread over them (the Lua script pins each thread to one replica, round-robin);
* ``fastmcp`` and ``typescript`` (the official SDK's Streamable HTTP server, npm
  ``@modelcontextprotocol/sdk``, installed under ``.cache/bench-node``).

Rounds are interleaved (every column at one concurrency, then the next; the column order
rotates each round) so a noisy neighbour hits every column alike; the table gives medians
over rounds, the spread, and each column's calls/s as a ratio to the floor measured in the
same round. After the run the bus replicas are stopped (their audit buffers flushed) and
the stored ``tool`` events are counted against the calls answered: ``lost`` must be 0.

``--auth`` (or ``BENCH_AUTH=1``): the mesh columns check a JWT on every call — the dev
authorization server issues a token (``AuthServer.dev_token``), the replicas get
``MCPMESH_AUTH_ISSUERS``/``MCPMESH_AUTH_RESOURCE`` and wrk sends the bearer header; the
run first checks that a call without the token is refused (401).
``BENCH_SECONDS`` (default 3) per run, ``BENCH_ROUNDS`` (default 3).
Targets (issue 19): >= 0.70 of the floor at c=8 and c=32 with 0 audit events lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench._nats import DeployedNats, deployed_nats
from bench._reference import NODE_DIR, reference_main
from bench._wrk import Load, run_wrk, tool_call_body
from mcpmesh.embedded.process import free_port
from mcpmesh.guard.sealing import write_key_file

SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = (1, 8, 32)
VERSION = "2025-06-18"
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
BODY = tool_call_body("echo", '{"text":"hi"}')
#: The same call on the 2026-07-28 stateless wire: no session; ``_meta`` and the headers.
MODERN = "2026-07-28"
MODERN_BODY = BODY.replace(
    '"arguments":{"text":"hi"}',
    '"arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    '"io.modelcontextprotocol/clientCapabilities":{}}',
)
MODERN_HEADERS = {"Mcp-Method": "tools/call", "Mcp-Name": "echo"}
assert MODERN_BODY != BODY
TS_PACKAGE, TS_VERSION = "@modelcontextprotocol/sdk", "1.32.2"
#: The canonical URL the mesh's replicas answer for when auth is on (the token's ``aud``).
AUTH_RESOURCE = "http://127.0.0.1:8101/mcp"
#: The scope the echo service asks for its read-only tool (``<service>:read``).
AUTH_SCOPE = "bench-echo:read"


def post(
    url: str, body: dict, session: str | None = None, extra: dict[str, str] | None = None
) -> tuple[dict[str, str], bytes]:
    headers = dict(HEADERS)
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = VERSION
    headers.update(_AUTH_HEADER)
    headers.update(extra or {})
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(response.headers), response.read()


#: The bearer header of ``--auth`` runs (empty otherwise): mesh columns only.
_AUTH_HEADER: dict[str, str] = {}


def initialized_session(url: str) -> str:
    """A session through ``initialize`` and ``notifications/initialized``, no call yet."""
    initialize = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    headers, _ = post(url, initialize)
    session = headers.get("mcp-session-id") or headers["Mcp-Session-Id"]
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    return session


def open_session(url: str) -> str:
    """An initialized session, checked with one echo call (an audited tool call)."""
    session = initialized_session(url)
    check_call(url, session)
    return session


def check_call(url: str, session: str | None, modern: bool = False) -> None:
    """One echo call: on the session wire, or (``modern``) as wrk sends it on 2026-07-28."""
    call = json.loads(MODERN_BODY.replace('"__ID__"', "1"))["params"] if modern else None
    call = call or {"name": "echo", "arguments": {"text": "hi"}}
    extra = {**MODERN_HEADERS, "MCP-Protocol-Version": MODERN} if modern else None
    _, body = post(
        url, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}, session, extra
    )
    assert b'"hi"' in body and b'"result"' in body, body[:300]


@dataclass
class Column:
    """One server (or set of replicas) under test."""

    name: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    sessions: list[str | None] = field(default_factory=list)
    ready_s: list[float] = field(default_factory=list)
    idle_rss_mb: list[float] = field(default_factory=list)
    #: The NATS subject prefix of its audit stream (bus columns only).
    prefix: str | None = None
    authorization: str = ""
    #: What wrk sends: the 2025 session wire, or the 2026-07-28 stateless one.
    body: str = BODY
    version: str = VERSION
    headers: dict[str, str] = field(default_factory=dict)
    #: tools/call answered outside wrk (the session checks), for the audit count.
    extra_calls: int = 0
    runs: dict[int, list[Load]] = field(default_factory=dict)


def start(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd
    )


def wait_answering(
    process: subprocess.Popen[bytes], url: str, began: float, sessions: bool, modern: bool
) -> tuple[str | None, float]:
    """The server's session (None without sessions) and seconds from start to answering."""
    while True:
        try:
            if sessions:
                session = open_session(url)
            else:
                session = None
                check_call(url, None, modern)
            return session, time.perf_counter() - began
        except (OSError, KeyError, AssertionError):
            if process.poll() is not None or time.perf_counter() - began > 30:
                raise RuntimeError(f"{url}: server did not start") from None
            time.sleep(0.01)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def launch(
    column: Column,
    argv_of_port: list[str],
    env: dict[str, str],
    *,
    replicas: int = 1,
    sessions: bool = True,
    shared_session: bool = False,
    cwd: Path | None = None,
) -> None:
    started = []
    for _ in range(replicas):
        port = free_port()
        began = time.perf_counter()
        process = start([*argv_of_port, str(port)], env, cwd)
        column.processes.append(process)  # stopped by the caller, answering or not
        started.append((process, f"http://127.0.0.1:{port}/mcp", began))
    for process, url, began in started:
        modern = column.version == MODERN
        session, ready = wait_answering(process, url, began, sessions, modern)
        column.urls.append(url)
        column.sessions.append(session)
        column.ready_s.append(ready)
        column.extra_calls += 1
    if shared_session:  # one client session, served by every replica through the bus
        column.sessions = [column.sessions[0]] * replicas


def echo_server(kind: str) -> list[str]:
    return [sys.executable, "-m", "bench._echo_servers", kind]


#: The bus columns' NATS subject prefixes (each its own mesh, on its own nats-server).
BUS_PREFIXES = ("benchone", "benchthree")
#: The echo service's name (its NATS user).
ECHO_SERVICE = "bench-echo"


def start_columns(buses: dict[str, dict[str, str]], auth_env: dict[str, str]) -> list[Column]:
    """Every column's servers, started and answering (``buses``: each bus column's NATS
    settings, by prefix); on a failure the ones already started are stopped before the
    error goes on."""
    columns: list[Column] = []
    try:
        _start_columns(buses, auth_env, columns)
    except BaseException:
        stop(columns)
        raise
    return columns


def _start_columns(
    buses: dict[str, dict[str, str]], auth_env: dict[str, str], columns: list[Column]
) -> None:
    base = {**os.environ, "MCPMESH_LOG_LEVEL": "warning", "MCPMESH_NATS_URL": ""}
    mesh_env = {**base, **auth_env}
    columns += [Column("floor"), Column("mesh"), Column("mesh+bus"), Column("mesh+bus x3")]
    launch(columns[0], echo_server("floor"), base, sessions=False)
    launch(columns[1], echo_server("mcpmesh"), mesh_env)
    modern = Column("mesh 2026", body=MODERN_BODY, version=MODERN, headers=MODERN_HEADERS)
    columns.append(modern)
    launch(modern, echo_server("mcpmesh"), mesh_env, sessions=False)
    for column, replicas, prefix in zip(columns[2:4], (1, 3), BUS_PREFIXES, strict=True):
        env = {**mesh_env, **buses[prefix]}
        column.prefix = prefix
        launch(column, echo_server("mcpmesh"), env, replicas=replicas, shared_session=True)
    fastmcp = Column("fastmcp")
    columns.append(fastmcp)
    launch(fastmcp, echo_server("fastmcp"), base)
    sdk = reference_main(TS_PACKAGE, TS_VERSION, "dist/esm/server/mcp.js")
    if sdk is not None and shutil.which("node"):
        script = NODE_DIR / "_ts_echo.mjs"
        shutil.copyfile(Path(__file__).with_name("_ts_echo.mjs"), script)
        typescript = Column("typescript")
        columns.append(typescript)
        launch(typescript, ["node", script.name], base, cwd=NODE_DIR)
    authorization = auth_env.get("BENCH_AUTHORIZATION", "")
    for column in columns:
        if column.name.startswith("mesh"):
            column.authorization = authorization
    time.sleep(0.5)  # idle
    for column in columns:
        column.idle_rss_mb = [rss_mb(p.pid) for p in column.processes]


def auth_enforced(url: str) -> bool:
    """Whether a call without the bearer token is refused (401) by the server at ``url``."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    request = urllib.request.Request(url, body, dict(HEADERS), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10):
            return False
    except urllib.error.HTTPError as exc:
        return exc.code == 401


def rotated(columns: list[Column], by: int) -> Iterator[Column]:
    for i in range(len(columns)):
        yield columns[(i + by) % len(columns)]


def measure(columns: list[Column]) -> None:
    for round_ in range(ROUNDS):
        for c in CONCURRENCY:
            for column in rotated(columns, round_):
                load = run_wrk(
                    column.urls,
                    column.sessions,
                    column.body,
                    c,
                    SECONDS,
                    version=column.version,
                    authorization=column.authorization,
                    headers=column.headers,
                )
                column.runs.setdefault(c, []).append(load)
        print(f"  round {round_ + 1}/{ROUNDS} done", flush=True)


def stop(columns: list[Column]) -> None:
    for column in columns:
        for process in column.processes:
            process.terminate()
    for column in columns:
        for process in column.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


async def stored_tool_events(bus: DeployedNats) -> int:
    """How many ``tool`` audit events the stream holds (one per message, or several in a
    block: the events are counted, not the messages). The audit path never drops: a full
    buffer holds the calls back, so stored against answered is the whole check."""
    from mcpmesh.bus.audit import audit_stream_name

    nc = await bus.connect()  # as the operator: only it reads the audit stream
    try:
        js = nc.jetstream(timeout=10)
        stream = audit_stream_name(bus.prefix)
        last = (await js.stream_info(stream)).state.last_seq
        count = 0
        if last:
            subject = f"{bus.prefix}.audit.>"
            sub = await js.subscribe(subject, ordered_consumer=True, stream=stream)
            while True:
                message = await sub.next_msg(timeout=10)
                count += message.data.count(b'"kind":"tool"')
                if message.metadata.sequence.stream >= last:
                    break
            await sub.unsubscribe()
        return count
    finally:
        await nc.close()


def report(columns: list[Column], lost: dict[str, tuple[int, int, int]]) -> int:
    floor = next(c for c in columns if c.name == "floor")
    print(
        f"\ntools/call echo: {ROUNDS} interleaved rounds x {SECONDS:g} s per run, wrk on "
        f"loopback, {os.cpu_count()} cores{', auth on (JWT)' if _AUTH_HEADER else ''}\n"
    )
    print(
        f"{'server':<12} {'c':>3} {'calls/s':>9} {'spread':>13} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'/floor':>7} {'spread':>11} {'errors':>6}"
    )
    errors = 0
    for column in columns:
        for c in CONCURRENCY:
            runs = column.runs[c]
            rates = [r.rps for r in runs]
            ratios = [r.rps / f.rps for r, f in zip(runs, floor.runs[c], strict=True)]
            bad = sum(r.bad for r in runs)
            errors += bad
            print(
                f"{column.name:<12} {c:>3} {statistics.median(rates):>9.0f} "
                f"{min(rates):>6.0f}-{max(rates):<6.0f} "
                f"{statistics.median(r.p50_ms for r in runs):>7.3f} "
                f"{statistics.median(r.p99_ms for r in runs):>7.3f} "
                f"{statistics.median(ratios):>7.2f} {min(ratios):>5.2f}-{max(ratios):<5.2f} {bad:>6}"
            )
    print()
    for column in columns:
        rss = statistics.mean(column.idle_rss_mb)
        ready = max(column.ready_s)
        each = " each" if len(column.processes) > 1 else ""
        print(f"{column.name:<12} ready {ready:.2f} s, idle RSS {rss:.1f} MB{each}")
    for name, (stored, answered) in lost.items():
        # Calls still in flight when a wrk run ends are answered (and audited) after wrk
        # stopped counting: up to c per run more events than answers, never fewer.
        print(
            f"{name:<12} audit: {answered} calls answered, {stored} tool events stored, "
            f"lost {max(0, answered - stored)}"
        )
    by_name = {c.name: c for c in columns}
    for other in ("fastmcp", "typescript"):
        if other in by_name:
            ratio = [
                statistics.median(r.rps for r in by_name["mesh+bus"].runs[c])
                / statistics.median(r.rps for r in by_name[other].runs[c])
                for c in CONCURRENCY
            ]
            print(
                f"mesh+bus / {other} calls/s: "
                + ", ".join(f"c={c}: {r:.1f}x" for c, r in zip(CONCURRENCY, ratio, strict=True))
            )
    missing = sum(max(0, answered - stored) for stored, answered in lost.values())
    return 1 if errors or missing else 0


@contextlib.asynccontextmanager
async def auth_environment(workdir: Path):  # type: ignore[no-untyped-def]
    """``--auth``: the dev authorization server and a token for the mesh columns."""
    from mcpmesh.embedded.authserver import start_authserver

    server = await start_authserver(workdir, {AUTH_RESOURCE: [AUTH_SCOPE]})
    try:
        token = str((await server.dev_token(AUTH_RESOURCE, [AUTH_SCOPE]))["access_token"])
        yield {
            "MCPMESH_AUTH_ISSUERS": server.issuer,
            "MCPMESH_AUTH_RESOURCE": AUTH_RESOURCE,
            "BENCH_AUTHORIZATION": f"Bearer {token}",
        }
    finally:
        await server.stop()


async def run(auth: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="mcpmesh-bench-") as home:
        async with contextlib.AsyncExitStack() as stack:
            buses = {
                prefix: await stack.enter_async_context(
                    deployed_nats(Path(home) / f"nats-{prefix}", [ECHO_SERVICE], prefix)
                )
                for prefix in BUS_PREFIXES
            }
            auth_env: dict[str, str] = {}
            if auth:
                auth_env = await stack.enter_async_context(auth_environment(Path(home)))
                _AUTH_HEADER["Authorization"] = auth_env["BENCH_AUTHORIZATION"]
            # Bus replicas share one requestState key ring (refused at start without).
            key_file = write_key_file(Path(home) / "state-keys.json")
            auth_env = {**auth_env, "MCPMESH_STATE_KEY_FILE": str(key_file)}
            bus_env = {prefix: bus.env() for prefix, bus in buses.items()}
            columns = await asyncio.to_thread(start_columns, bus_env, auth_env)
            if auth:
                enforced = await asyncio.to_thread(auth_enforced, columns[1].urls[0])
                print(
                    "  auth: a call without the token is "
                    + (
                        "refused (401)"
                        if enforced
                        else "not refused with 401: the mesh is not checking tokens "
                        "(MCPMESH_AUTH_… not applied)"
                    ),
                    flush=True,
                )
            try:
                await asyncio.to_thread(measure, columns)
            finally:
                await asyncio.to_thread(stop, columns)
            lost = {}
            for column in columns:
                if column.prefix is not None:
                    answered = column.extra_calls + sum(
                        r.answered - r.bad for runs in column.runs.values() for r in runs
                    )
                    stored = await stored_tool_events(buses[column.prefix])
                    lost[column.name] = (stored, answered)
            return report(columns, lost)


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk); `make bench` installs it")
        return 1
    auth = "--auth" in sys.argv or os.environ.get("BENCH_AUTH", "") not in ("", "0")
    return asyncio.run(run(auth))
