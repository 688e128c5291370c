"""Benchmark: the overhead of ``query`` over the same query through plain asyncpg.

``python -m mcpmesh_postgres.bench`` (``main() -> int``, the shape ``make bench`` areas
have). Starts its own embedded PostgreSQL; sequential calls from the official Python SDK
client, so the figure is latency per call (client included), not server throughput.
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

SQL = "SELECT id, name, email, country, created_at FROM customers WHERE country = $1 ORDER BY id"
CALLS = 300


async def _timed(call: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    for _ in range(20):  # warm-up: pools, prepared statements, caches
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"  {name:<34} p50 {p50:7.3f} ms   p95 {p95:7.3f} ms   {1000 / statistics.mean(ordered):7.0f} calls/s"


async def run(calls: int = CALLS) -> int:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from mcpmesh.config import ServerSettings
    from mcpmesh.embedded.postgres import postgres_starter
    from mcpmesh.secrets import DevSecretProvider
    from mcpmesh.testing import serve_in_background
    from mcpmesh_postgres.service import create
    from mcpmesh_postgres.settings import PostgresSettings

    workdir = Path(tempfile.mkdtemp(prefix="mcpmesh-pg-bench-"))
    cluster, env = await postgres_starter(workdir, {})
    try:
        dsn = env["MCPMESH_PG_DSN"]
        conn = await asyncpg.connect(dsn)
        try:
            plain = await _timed(lambda: conn.fetch(SQL, "DE"), calls)

            async def in_read_only_transaction() -> object:
                async with conn.transaction(readonly=True):
                    return await conn.fetch(SQL, "DE")

            plain_tx = await _timed(in_read_only_transaction, calls)
        finally:
            await conn.close()
        service = create(
            ServerSettings(), pg=PostgresSettings(dsn=dsn), secrets=DevSecretProvider({})
        )
        async with (
            serve_in_background(service) as running,
            streamable_http_client(running.url) as (read, write, *_),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            via_mcp = await _timed(
                lambda: session.call_tool("query", {"sql": SQL, "params": ["DE"]}), calls
            )
            ping = await _timed(session.send_ping, calls)
    finally:
        await cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"postgres: {calls} sequential calls, 10 rows x 5 columns")
    print(_line("asyncpg fetch", plain))
    print(_line("asyncpg fetch in READ ONLY tx", plain_tx))
    print(_line("MCP query (Python SDK client)", via_mcp))
    print(_line("MCP ping (client+transport floor)", ping))
    overhead = statistics.median(via_mcp) - statistics.median(plain)
    print(f"  query overhead over plain asyncpg (p50): {overhead:.3f} ms")
    return 0


def main() -> int:
    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
