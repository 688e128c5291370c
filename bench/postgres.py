"""Postgres service benchmark: the overhead of ``query`` over the same query through plain
asyncpg, and the official reference server (npm ``@modelcontextprotocol/server-postgres``,
stdio) doing the same query through the same client.

Starts its own embedded PostgreSQL with the demo database. Calls are sequential, from the
official Python SDK client, so the figures are latency per call (client included), not
server throughput.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from bench._reference import reference_main, stdio_session

SQL = "SELECT id, name, email, country, created_at FROM customers WHERE country = $1 ORDER BY id"
#: The same query as one literal statement: the reference server takes no parameters.
SQL_LITERAL = SQL.replace("$1", "'DE'")
CALLS = 300
REFERENCE_PACKAGE = "@modelcontextprotocol/server-postgres"
REFERENCE_VERSION = "0.6.2"


async def timed(call: Callable[[], Awaitable[object]], calls: int = CALLS) -> list[float]:
    for _ in range(20):  # warm-up: pools, prepared statements, caches
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    rate = 1000 / statistics.mean(ordered)
    return f"  {name:<40} p50 {p50:7.3f} ms   p95 {p95:7.3f} ms   {rate:7.0f} calls/s"


async def plain_asyncpg(dsn: str) -> dict[str, list[float]]:
    conn = await asyncpg.connect(dsn)
    try:

        async def in_read_only_transaction() -> object:
            async with conn.transaction(readonly=True):
                return await conn.fetch(SQL, "DE")

        return {
            "asyncpg fetch": await timed(lambda: conn.fetch(SQL, "DE")),
            "asyncpg fetch in READ ONLY tx": await timed(in_read_only_transaction),
        }
    finally:
        await conn.close()


async def through_mcpmesh(dsn: str) -> dict[str, list[float]]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from mcpmesh.config import ServerSettings
    from mcpmesh.secrets import DevSecretProvider
    from mcpmesh.testing import serve_in_background
    from mcpmesh_postgres.service import create
    from mcpmesh_postgres.settings import PostgresSettings

    service = create(ServerSettings(), pg=PostgresSettings(dsn=dsn), secrets=DevSecretProvider({}))
    async with (
        serve_in_background(service) as running,
        streamable_http_client(running.url) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return {
            "mcpmesh query (SDK client, HTTP)": await timed(
                lambda: session.call_tool("query", {"sql": SQL_LITERAL})
            ),
            "mcpmesh ping (client+transport floor)": await timed(session.send_ping),
        }


async def through_reference(main: Path, dsn: str) -> dict[str, list[float]]:
    async with stdio_session(main, dsn) as session:
        return {
            "reference query (SDK client, stdio)": await timed(
                lambda: session.call_tool("query", {"sql": SQL_LITERAL})
            )
        }


async def run() -> None:
    from mcpmesh.embedded.postgres import postgres_starter

    reference = reference_main(REFERENCE_PACKAGE, REFERENCE_VERSION)
    workdir = Path(tempfile.mkdtemp(prefix="mcpmesh-pg-bench-"))
    cluster, env = await postgres_starter(workdir, {})
    try:
        dsn = env["MCPMESH_PG_DSN"]
        results = await plain_asyncpg(dsn)
        results |= await through_mcpmesh(dsn)
        if reference is not None:
            results |= await through_reference(reference, dsn)
    finally:
        await cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"postgres: {CALLS} sequential calls, 10 rows x 5 columns")
    for name, samples in results.items():
        print(line(name, samples))
    ours = statistics.median(results["mcpmesh query (SDK client, HTTP)"])
    print(
        f"  mcpmesh query over plain asyncpg (p50): +{ours - statistics.median(results['asyncpg fetch']):.3f} ms"
    )
    if reference is not None:
        theirs = statistics.median(results["reference query (SDK client, stdio)"])
        print(f"  reference / mcpmesh query latency (p50): {theirs / ours:.1f}x")


def main() -> int:
    asyncio.run(run())
    return 0
