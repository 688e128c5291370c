"""Postgres service benchmark: ``query`` against the same query through plain asyncpg and
through the official reference server (npm ``@modelcontextprotocol/server-postgres``,
stdio), each server through two clients: the official Python SDK client, and the
lightest client of its transport (``bench._raw_clients``: raw newline-delimited JSON-RPC
on the reference's stdin/stdout, one aiohttp keep-alive session posting the same JSON to
the mesh). The SDK's HTTP client costs more per call than its stdio one, so only the
lightest-client columns compare the servers; the SDK columns show what a Python user sees.

Starts its own embedded PostgreSQL with the demo database; the mesh's service runs as its
own process (``mcpmesh serve postgres``), as the reference does. Latency: sequential calls in
``BENCH_PG_ROUNDS`` interleaved rounds (default 6; every column once per round, the order
rotating), p50/p99 and the spread of the per-round medians. ``ping`` through each client
is the transport's echo cost, so ``query - ping`` is the server's work per query.
Throughput at c=8 and c=32: ``c`` concurrent calls through each client (one SDK session,
one stdio pipe, one HTTP session), wrk POSTing ``tools/call query`` to the mesh (the
server's own capacity), and asyncpg with the same pool size doing the same query in a
READ ONLY transaction (the floor). Targets (issue 19): query p50 at or below the reference
through the same client, and within 2x of (asyncpg in a read-only transaction + ping).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench._raw_clients import HttpClient, StdioClient
from bench._reference import reference_main, stdio_session
from bench._wrk import run_wrk, tool_call_body

SQL = "SELECT id, name, email, country, created_at FROM customers WHERE country = $1 ORDER BY id"
#: The same query as one literal statement: the reference server takes no parameters.
SQL_LITERAL = SQL.replace("$1", "'DE'")
ROUNDS = int(os.environ.get("BENCH_PG_ROUNDS", "6"))
CALLS = 60  # per column per round
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
CONCURRENCY = (8, 32)
POOL_SIZE = 4  # the service's default MCPMESH_PG_POOL_SIZE
REFERENCE_PACKAGE = "@modelcontextprotocol/server-postgres"
REFERENCE_VERSION = "0.6.2"

Call = Callable[[], Awaitable[object]]
MESH_RAW = "mcpmesh (raw HTTP client)"
MESH_SDK = "mcpmesh (SDK client, HTTP)"
REF_RAW = "reference (raw stdio client)"
REF_SDK = "reference (SDK client, stdio)"


async def sample(call: Call, calls: int) -> list[float]:
    for _ in range(5):  # warm-up after the other columns ran
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def interleaved(columns: dict[str, Call]) -> dict[str, list[list[float]]]:
    names = list(columns)
    results: dict[str, list[list[float]]] = {name: [] for name in names}
    for round_ in range(ROUNDS):
        for i in range(len(names)):
            name = names[(i + round_) % len(names)]
            results[name].append(await sample(columns[name], CALLS))
    return results


async def throughput(call: Call, concurrency: int, seconds: float) -> float:
    """Calls/s of ``concurrency`` workers calling ``call`` back to back for ``seconds``."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def latency_table(results: dict[str, list[list[float]]]) -> dict[str, tuple[float, float]]:
    """Prints every column; returns ``{column: (p50, p99)}``."""
    print(f"postgres: {ROUNDS} interleaved rounds x {CALLS} sequential calls, 10 rows x 5 columns")
    print(f"  {'':<46} {'p50 ms':>8} {'round p50s':>15} {'p99 ms':>8}")
    quantiles = {}
    for name, rounds in results.items():
        every = sorted(s for r in rounds for s in r)
        per_round = [statistics.median(r) for r in rounds]
        quantiles[name] = (statistics.median(every), percentile(every, 0.99))
        print(
            f"  {name:<46} {quantiles[name][0]:>8.3f} {min(per_round):>7.3f}-{max(per_round):<7.3f} "
            f"{quantiles[name][1]:>8.3f}"
        )
    return quantiles


async def run() -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from mcpmesh.embedded.postgres import postgres_starter

    reference = reference_main(REFERENCE_PACKAGE, REFERENCE_VERSION)
    workdir = Path(tempfile.mkdtemp(prefix="mcpmesh-pg-bench-"))
    cluster, env = await postgres_starter(workdir, {})
    dsn = env["MCPMESH_PG_DSN"]
    query_args = {"sql": SQL_LITERAL}
    query_params = {"name": "query", "arguments": query_args}
    try:
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        conn = await asyncpg.connect(dsn)

        async def in_read_only_transaction(c: Any = conn) -> object:
            async with c.transaction(readonly=True):
                return await c.fetch(SQL, "DE")

        async def pooled_read_only() -> object:
            async with pool.acquire() as c:
                return await in_read_only_transaction(c)

        async with contextlib.AsyncExitStack() as stack:
            url = await stack.enter_async_context(served_postgres(dsn))
            read, write, *_ = await stack.enter_async_context(streamable_http_client(url))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            raw = await stack.enter_async_context(HttpClient.started(url))
            # Lightest client first, then the SDK's; the same order for both servers.
            clients: dict[str, tuple[Call, Call]] = {
                MESH_RAW: (lambda: raw.call("tools/call", query_params), lambda: raw.call("ping")),
                MESH_SDK: (lambda: session.call_tool("query", query_args), session.send_ping),
            }
            if reference is not None:
                ref_raw = await stack.enter_async_context(
                    StdioClient.started("node", str(reference), dsn)
                )
                ref = await stack.enter_async_context(stdio_session(reference, dsn))
                clients[REF_RAW] = (
                    lambda: ref_raw.call("tools/call", query_params),
                    lambda: ref_raw.call("ping"),
                )
                clients[REF_SDK] = (lambda: ref.call_tool("query", query_args), ref.send_ping)
            columns: dict[str, Call] = {}
            for name, (query, ping) in clients.items():
                columns[f"{name} query"] = query
                columns[f"{name} ping"] = ping
            # What an assistant sends: a statement text the server has not seen before.
            texts = itertools.count()

            def new_text() -> dict[str, Any]:
                return {"name": "query", "arguments": {"sql": f"{SQL_LITERAL} -- {next(texts)}"}}

            columns[f"{MESH_RAW} query, new text"] = lambda: raw.call("tools/call", new_text())
            if reference is not None:
                columns[f"{REF_RAW} query, new text"] = lambda: ref_raw.call(
                    "tools/call", new_text()
                )
            columns["asyncpg fetch"] = lambda: conn.fetch(SQL, "DE")
            columns["asyncpg fetch in READ ONLY tx"] = in_read_only_transaction
            results = await interleaved(columns)
            rates: dict[str, dict[int, float]] = {
                f"{name} query": {c: await throughput(query, c, SECONDS) for c in CONCURRENCY}
                for name, (query, _ping) in clients.items()
            }
            rates["mcpmesh query, wrk (server capacity)"] = await wrk_rates(url)
            rates[f"asyncpg pool of {POOL_SIZE}, READ ONLY tx"] = {
                c: await throughput(pooled_read_only, c, SECONDS) for c in CONCURRENCY
            }
        await conn.close()
        await pool.close()
    finally:
        await cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(latency_table(results), rates)


@contextlib.asynccontextmanager
async def served_postgres(dsn: str) -> AsyncIterator[str]:
    """``mcpmesh serve postgres`` on a free port, bus off; yields its MCP URL."""
    from mcpmesh.embedded.process import free_port, port_open

    port = free_port()
    env = {
        **os.environ,
        "MCPMESH_PG_DSN": dsn,
        "MCPMESH_PG_POOL_SIZE": str(POOL_SIZE),
        "MCPMESH_LOG_LEVEL": "warning",
        "MCPMESH_NATS_URL": "",
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mcpmesh", "serve", "postgres", "--port", str(port)), env=env
    )
    try:
        for _ in range(1200):
            if await port_open("127.0.0.1", port):
                break
            if process.returncode is not None:
                raise RuntimeError("mcpmesh serve postgres exited; see its output above")
            await asyncio.sleep(0.025)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def wrk_rates(url: str) -> dict[int, float]:
    session = await asyncio.to_thread(_raw_session, url)
    body = tool_call_body("query", json.dumps({"sql": SQL_LITERAL}))
    rates = {}
    for c in CONCURRENCY:
        load = await asyncio.to_thread(run_wrk, [url], [session], body, c, SECONDS)
        if load.bad:
            raise RuntimeError(f"wrk: {load.bad} bad answers from the postgres service")
        rates[c] = load.rps
    return rates


def _raw_session(url: str) -> str:
    """An initialized session for wrk (``bench.protocol.open_session`` checks an echo)."""
    from bench.protocol import initialized_session

    return initialized_session(url)


def report(quantiles: dict[str, tuple[float, float]], rates: dict[str, dict[int, float]]) -> None:
    """Per client: each server's query and ping, its work (query - ping), and the ratios."""
    floor = quantiles["asyncpg fetch in READ ONLY tx"][0]
    pairs = [
        ("lightest client", MESH_RAW, REF_RAW, "query"),
        ("  new text", MESH_RAW, REF_RAW, "query, new text"),
        ("SDK client", MESH_SDK, REF_SDK, "query"),
    ]
    print(
        f"\n  {'p50 (p99) ms':<17}{'mcpmesh query':>17}{'ping':>8}{'server':>8}"
        f"{'reference query':>19}{'ping':>8}{'server':>8}{'query ratio':>13}{'server ratio':>14}"
        f"{'/ (RO tx + ping)':>18}"
    )
    for label, mesh, ref, query in pairs:
        q, q99 = quantiles[f"{mesh} {query}"]
        ping = quantiles[f"{mesh} ping"][0]
        row = f"  {label:<17}{q:>8.3f} ({q99:>6.3f}){ping:>8.3f}{q - ping:>8.3f}"
        if f"{ref} {query}" in quantiles:
            rq, rq99 = quantiles[f"{ref} {query}"]
            rping = quantiles[f"{ref} ping"][0]
            row += f"{rq:>10.3f} ({rq99:>6.3f}){rping:>8.3f}{rq - rping:>8.3f}"
            row += f"{q / rq:>12.2f}x{(q - ping) / max(rq - rping, 1e-9):>13.2f}x"
        else:
            row += f"{'(no reference)':>45}"
        print(row + f"{q / (floor + ping):>17.2f}x")
    print(
        "  query ratio: mcpmesh / reference p50 (target <= 1 through the same client); "
        "server: query - ping; last column: mcpmesh query / (asyncpg READ ONLY tx + its "
        "client's ping) (target <= 2). new text: every call a statement text the server "
        "has not seen before, as an assistant writes them"
    )
    print(f"  throughput, calls/s: {'':<36}" + "".join(f"{f'c={c}':>9}" for c in CONCURRENCY))
    for name, by_c in rates.items():
        print(f"    {name:<55}" + "".join(f"{by_c[c]:>9.0f}" for c in CONCURRENCY))


def main() -> int:
    asyncio.run(run())
    return 0
