"""Bus benchmark: the extra latency of a cross-replica sampling round trip.

Two replicas of the fixture service (separate processes) share a nats-server started
for the run, as deployed (``bench._nats``: NKEY login, the fixture's permissions). A client that declared sampling calls ``test_sampling``; the replica
running it sends ``sampling/createMessage`` on the call's SSE stream, and the client
answers with a POST either to the same replica (the waiting handler is local) or to
the other one (the answer travels over NATS to the waiting replica). Reported: p50 and
p90 of the whole tools/call round trip, both ways, and the difference.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench._nats import deployed_nats
from mcpmesh.embedded.process import free_port
from mcpmesh.guard.sealing import write_key_file
from mcpmesh.testing import RawClient, read_sse

ROUNDS = int(os.environ.get("BENCH_BUS_ROUNDS", "300"))


def start_replica(bus_env: dict[str, str], key_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcpmesh", "serve", "fixture", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            **bus_env,
            "MCPMESH_STATE_KEY_FILE": str(key_file),
            "MCPMESH_LOG_LEVEL": "warning",
            # The policy's rate limit would otherwise stop the benchmark after 30 calls.
            "MCPMESH_SAMPLING_RATE_LIMIT": "1000000000",
        },
    )
    return process, f"http://127.0.0.1:{port}"


async def wait_ready(http: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            async with http.get(base + "/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"replica at {base} not ready")


async def one_round(runner: RawClient, answerer: RawClient, n: int) -> float:
    started = time.perf_counter()
    response = await runner.post(
        {
            "jsonrpc": "2.0",
            "id": n,
            "method": "tools/call",
            "params": {"name": "test_sampling", "arguments": {"prompt": "hi"}},
        }
    )
    events = read_sse(response)
    request = None
    async for event in events:
        if event.data:
            request = event.json()
            break
    if request is None or request.get("method") != "sampling/createMessage":
        raise RuntimeError(f"expected a sampling request, got {request!r}")
    answer = {
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {
            "role": "assistant",
            "content": {"type": "text", "text": "hello"},
            "model": "bench",
        },
    }
    posted = await answerer.post(answer)
    assert posted.status == 202, await posted.text()
    async for event in events:
        if event.data and event.json().get("id") == n:
            break
    response.close()
    return (time.perf_counter() - started) * 1000


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9) - 1]


async def run() -> int:
    with tempfile.TemporaryDirectory() as home:
        async with deployed_nats(Path(home) / "nats", ["fixture"]) as bus:
            key_file = write_key_file(Path(home) / "state-keys.json")
            replicas = [start_replica(bus.env(), key_file) for _ in range(2)]
            try:
                async with aiohttp.ClientSession() as http:
                    for _, base in replicas:
                        await wait_ready(http, base)
                    a = RawClient(http, replicas[0][1] + "/mcp")
                    await a.initialize({"sampling": {}})
                    b = RawClient(http, replicas[1][1] + "/mcp")
                    b.session_id = a.session_id
                    for n in range(20):  # warm up both paths
                        await one_round(a, a if n % 2 else b, 10_000 + n)
                    same, cross = [], []
                    for n in range(ROUNDS):
                        same.append(await one_round(a, a, 2 * n))
                        cross.append(await one_round(a, b, 2 * n + 1))
            finally:
                for process, _ in replicas:
                    process.terminate()
                for process, _ in replicas:
                    process.wait(15)
    same_p50, same_p90 = summary(same)
    cross_p50, cross_p90 = summary(cross)
    print(f"sampling round trip over {ROUNDS} calls each (tools/call -> createMessage -> answer)")
    print(f"  same replica   p50 {same_p50:7.2f} ms   p90 {same_p90:7.2f} ms")
    print(f"  cross replica  p50 {cross_p50:7.2f} ms   p90 {cross_p90:7.2f} ms")
    print(
        f"  extra (NATS)   p50 {cross_p50 - same_p50:+7.2f} ms   p90 {cross_p90 - same_p90:+7.2f} ms"
    )
    return 0


def main() -> int:
    return asyncio.run(run())
