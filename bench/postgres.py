"""Postgres service benchmark: ``query`` against the same query through plain asyncpg and
through the official reference server (npm ``@modelcontextprotocol/server-postgres``,
stdio) driven by the same official Python SDK client.

Starts its own embedded PostgreSQL with the demo database; the mesh's service runs as its
own process (``mcpmesh serve postgres``), as the reference does. Latency: sequential calls in
``BENCH_PG_ROUNDS`` interleaved rounds (default 6; every column once per round, the order
rotating), medians and the spread of the per-round medians. ``ping`` through each client
is the transport's echo cost, so ``query - ping`` is the work per query on either side
(the raw aiohttp client columns split the mesh's into server and SDK-client parts). Throughput at c=8 and c=32: ``c`` concurrent SDK calls on one session (client-bound:
the Python client is the slowest part), wrk POSTing ``tools/call query`` to the mesh
(the server's own capacity), and asyncpg with the same pool size doing the same query in a
READ ONLY transaction (the floor). Targets (issue 19): query p50 at or below the reference
through the same client, and within 2x of (asyncpg in a read-only transaction + ping).
"""

from __future__ import annotations

import asyncio
import contextlib
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

import aiohttp
import asyncpg

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


def latency_table(results: dict[str, list[list[float]]]) -> dict[str, float]:
    print(f"postgres: {ROUNDS} interleaved rounds x {CALLS} sequential calls, 10 rows x 5 columns")
    print(f"  {'':<40} {'p50 ms':>8} {'round p50s':>15} {'p90 ms':>8}")
    p50s = {}
    for name, rounds in results.items():
        every = sorted(s for r in rounds for s in r)
        per_round = [statistics.median(r) for r in rounds]
        p50s[name] = statistics.median(every)
        print(
            f"  {name:<40} {p50s[name]:>8.3f} {min(per_round):>7.3f}-{max(per_round):<7.3f} "
            f"{every[int(len(every) * 0.9)]:>8.3f}"
        )
    return p50s


async def run() -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from mcpmesh.embedded.postgres import postgres_starter
    from mcpmesh.testing import RawClient

    reference = reference_main(REFERENCE_PACKAGE, REFERENCE_VERSION)
    workdir = Path(tempfile.mkdtemp(prefix="mcpmesh-pg-bench-"))
    cluster, env = await postgres_starter(workdir, {})
    dsn = env["MCPMESH_PG_DSN"]
    query_args = {"sql": SQL_LITERAL}
    try:
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        conn = await asyncpg.connect(dsn)

        async def in_read_only_transaction(c: Any = conn) -> object:
            async with c.transaction(readonly=True):
                return await c.fetch(SQL, "DE")

        async def pooled_read_only() -> object:
            async with pool.acquire() as c:
                return await in_read_only_transaction(c)

        async with (
            served_postgres(dsn) as url,
            streamable_http_client(url) as (read, write, *_),
            ClientSession(read, write) as session,
            aiohttp.ClientSession() as http,
        ):
            await session.initialize()
            raw = RawClient(http, url)
            await raw.initialize()
            columns: dict[str, Call] = {
                "mcpmesh query (raw aiohttp client)": lambda: raw.call(
                    "tools/call", {"name": "query", "arguments": query_args}
                ),
                "mcpmesh ping (raw aiohttp client)": lambda: raw.call("ping"),
                "asyncpg fetch": lambda: conn.fetch(SQL, "DE"),
                "asyncpg fetch in READ ONLY tx": in_read_only_transaction,
                "mcpmesh query (SDK client, HTTP)": lambda: session.call_tool("query", query_args),
                "mcpmesh ping (SDK client, HTTP)": session.send_ping,
            }
            rates: dict[str, dict[int, float]] = {}
            if reference is not None:
                async with stdio_session(reference, dsn) as ref:
                    columns["reference query (SDK client, stdio)"] = lambda: ref.call_tool(
                        "query", query_args
                    )
                    columns["reference ping (SDK client, stdio)"] = ref.send_ping
                    results = await interleaved(columns)
                    rates["reference query, SDK client (stdio)"] = {
                        c: await throughput(lambda: ref.call_tool("query", query_args), c, SECONDS)
                        for c in CONCURRENCY
                    }
            else:
                results = await interleaved(columns)
            rates["mcpmesh query, SDK client (HTTP, client-bound)"] = {
                c: await throughput(lambda: session.call_tool("query", query_args), c, SECONDS)
                for c in CONCURRENCY
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
    report(latency_table(results), rates, reference is not None)


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


def report(p50: dict[str, float], rates: dict[str, dict[int, float]], reference: bool) -> None:
    ours = p50["mcpmesh query (SDK client, HTTP)"]
    ping = p50["mcpmesh ping (SDK client, HTTP)"]
    floor = p50["asyncpg fetch in READ ONLY tx"] + ping
    print(
        f"  mcpmesh query / (asyncpg READ ONLY tx + ping) (p50): {ours / floor:.2f}x (target <= 2)"
    )
    print(f"  mcpmesh server work per query (query - ping, p50): {ours - ping:.3f} ms")
    raw_work = p50["mcpmesh query (raw aiohttp client)"] - p50["mcpmesh ping (raw aiohttp client)"]
    print(
        f"    of which the server's, seen from a bare HTTP client: {raw_work:.3f} ms "
        f"(the rest is the SDK client reading the result: {ours - ping - raw_work:.3f} ms)"
    )
    if reference:
        theirs = p50["reference query (SDK client, stdio)"]
        their_ping = p50["reference ping (SDK client, stdio)"]
        print(
            f"  reference server work per query (query - ping, p50): {theirs - their_ping:.3f} ms"
        )
        print(
            f"  mcpmesh / reference query latency (p50): {ours / theirs:.2f}x "
            f"(ping: HTTP {ping:.3f} ms vs stdio {their_ping:.3f} ms)"
        )
    print(f"  throughput, calls/s: {'':<28}" + "".join(f"{f'c={c}':>9}" for c in CONCURRENCY))
    for name, by_c in rates.items():
        print(f"    {name:<47}" + "".join(f"{by_c[c]:>9.0f}" for c in CONCURRENCY))


def main() -> int:
    asyncio.run(run())
    return 0
