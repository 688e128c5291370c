"""Startup and idle memory of every service, as deployed: bus on (a nats-server started
for the run), one process per service (``mcpmesh serve NAME``).

Each service is started ``BENCH_STARTUP_ROUNDS`` times (default 3), services interleaved;
reported: the median time from process start to ``/readyz`` answering 200 (ready), the CPU
time the process used until then (what the start costs on an idle machine: wall time on a
busy shared box is mostly waiting for a core) and the resident memory one second after. Postgres gets an embedded PostgreSQL with the demo
database, filesystem a temporary root. ``--auth``/``BENCH_AUTH=1``: the services also
check tokens (issuer of the dev authorization server). Targets: ready < 1 s, RSS < 60 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.protocol import auth_environment, rss_mb
from mcpmesh.embedded.process import free_port
from mcpmesh.guard.sealing import write_key_file
from mcpmesh.registry import available

ROUNDS = int(os.environ.get("BENCH_STARTUP_ROUNDS", "3"))
READY_WITHIN_S = 15.0


def ready_after(base: str, process: subprocess.Popen[bytes], began: float) -> float | str:
    """Seconds until ``/readyz`` answers 200, or what it said last."""
    last = "no answer"
    while time.perf_counter() - began < READY_WITHIN_S:
        if process.poll() is not None:
            return f"exited with {process.returncode}"
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - began
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")[:160]
        except OSError:
            pass
        time.sleep(0.005)
    return f"not ready within {READY_WITHIN_S:g} s: {last}"


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_once(name: str, env: dict[str, str]) -> tuple[float | str, float, float]:
    port = free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcpmesh", "serve", name, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        ready = ready_after(f"http://127.0.0.1:{port}", process, began)
        if isinstance(ready, str):
            return ready, float("nan"), float("nan")
        cpu = cpu_s(process.pid)
        time.sleep(1.0)
        return ready, cpu, rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)


async def run(auth: bool) -> int:
    from mcpmesh.embedded.nats import nats_starter  # as `make run`: NKEY users, permissions
    from mcpmesh.embedded.postgres import postgres_starter

    with tempfile.TemporaryDirectory(prefix="mcpmesh-startup-") as home:
        root = Path(home) / "files"
        root.mkdir()
        (root / "hello.txt").write_text("hi\n")
        nats_server, nats_env = await nats_starter(Path(home), {})
        cluster, pg_env = await postgres_starter(Path(home) / "pg", {})
        try:
            async with contextlib.AsyncExitStack() as stack:
                env = {
                    **os.environ,
                    **pg_env,
                    "MCPMESH_LOG_LEVEL": "warning",
                    **nats_env,
                    # Required with the bus on (`mcpmesh up` writes one too).
                    "MCPMESH_STATE_KEY_FILE": str(write_key_file(Path(home) / "state-keys.json")),
                    "MCPMESH_FS_ROOTS": str(root),
                }
                if auth:
                    extra = await stack.enter_async_context(auth_environment(Path(home)))
                    env.update({k: v for k, v in extra.items() if k.startswith("MCPMESH_")})
                names = sorted(available())
                results: dict[str, list[tuple[float | str, float, float]]] = {n: [] for n in names}
                for _ in range(ROUNDS):
                    for name in names:
                        results[name].append(await asyncio.to_thread(start_once, name, env))
        finally:
            await cluster.stop()
            await nats_server.stop()
    print(f"startup with the bus on{' and auth' if auth else ''}: median of {ROUNDS} starts")
    status = 0
    for name, runs in results.items():
        times = [r for r, _, _ in runs if isinstance(r, float)]
        cpu = statistics.median(c for _, c, _ in runs)
        rss = statistics.median(m for _, _, m in runs)
        if len(times) < len(runs):
            reason = next(r for r, _, _ in runs if isinstance(r, str))
            print(f"  {name:<11} not ready: {reason}; idle RSS {rss:.1f} MB")
            status = 1
            continue
        ready = statistics.median(times)
        flag = "" if min(ready, cpu) < 1 and rss < 60 else "  (over target)"
        print(
            f"  {name:<11} ready {ready:.2f} s ({min(times):.2f}-{max(times):.2f}), "
            f"CPU to ready {cpu:.2f} s, idle RSS {rss:.1f} MB{flag}"
        )
    return status


def main() -> int:
    auth = "--auth" in sys.argv or os.environ.get("BENCH_AUTH", "") not in ("", "0")
    return asyncio.run(run(auth))
