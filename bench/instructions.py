"""CPU instructions per ``tools/call echo``, counted by valgrind's callgrind: a figure that
does not move with the machine's load, for deciding whether a change to the hot path
helps (calls/s on a shared 2-core machine spread by ±20 %).

Each column's server runs under ``valgrind --tool=callgrind --instr-atstart=no``; after a
warm-up, counting is switched on (``callgrind_control -i on``), wrk sends ``BENCH_SECONDS``
(default 3, x2 under valgrind) of calls at c=4, counting is switched off and the count is
divided by the calls answered. User-space instructions only: the kernel's share of a call
(one recv, one send) is the same for every column. Columns: the floor, the mesh bus off,
auth on (a dev token), the bus on (NATS as deployed, audit), both; ratios to the floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import protocol
from bench._nats import deployed_nats
from bench._wrk import run_wrk
from mcpmesh.embedded.process import free_port
from mcpmesh.guard.sealing import write_key_file

SECONDS = 2 * float(os.environ.get("BENCH_SECONDS", "3"))
COLUMNS = ("floor", "mesh", "mesh+auth", "mesh+bus", "mesh+bus+auth")
_START_WITHIN_S = 300.0  # a start under valgrind is ~10x slower


def _answering(process: subprocess.Popen[bytes], url: str, sessions: bool) -> str | None:
    began = time.perf_counter()
    while True:
        try:
            if sessions:
                return protocol.open_session(url)
            protocol.check_call(url, None)
            return None
        except (OSError, KeyError, AssertionError):
            if process.poll() is not None or time.perf_counter() - began > _START_WITHIN_S:
                raise RuntimeError(f"{url}: server did not start under valgrind") from None
            time.sleep(0.2)


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], capture_output=True, check=False)


def count(kind: str, env: dict[str, str], authorization: str, out: Path) -> tuple[int, int]:
    """(calls answered, instructions counted) of one server under callgrind."""
    port = free_port()
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}/cg.%p",
        *protocol.echo_server("floor" if kind == "floor" else "mcpmesh"),
        str(port),
    ]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        if authorization:
            protocol._AUTH_HEADER["Authorization"] = authorization
        else:
            protocol._AUTH_HEADER.pop("Authorization", None)
        session = _answering(process, url, kind != "floor")
        # Warm up first: caches, the first calls' imports.
        run_wrk([url], [session], protocol.BODY, 2, 2, authorization=authorization)
        _control("-i", "on", str(process.pid))
        measured = run_wrk([url], [session], protocol.BODY, 4, SECONDS, authorization=authorization)
        _control("-i", "off", str(process.pid))
        _control("-d", str(process.pid))
        dumps = f"{out}/cg.{process.pid}.*"
        deadline = time.perf_counter() + 60
        while not any(os.path.getsize(f) > 0 for f in glob.glob(dumps)):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{kind}: callgrind wrote no dump")
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(60)
    total = 0
    for dump in glob.glob(dumps):
        for line in Path(dump).read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return measured.answered - measured.bad, total


async def run() -> int:
    with tempfile.TemporaryDirectory(prefix="mcpmesh-instructions-") as home:
        async with contextlib.AsyncExitStack() as stack:
            bus = await stack.enter_async_context(
                deployed_nats(Path(home) / "nats", [protocol.ECHO_SERVICE], "benchcg")
            )
            auth = await stack.enter_async_context(protocol.auth_environment(Path(home)))
            base = {
                **os.environ,
                "MCPMESH_LOG_LEVEL": "warning",
                "MCPMESH_NATS_URL": "",
                "MCPMESH_STATE_KEY_FILE": str(write_key_file(Path(home) / "keys.json")),
                "PYTHONHASHSEED": "0",
            }
            results: dict[str, float] = {}
            for kind in COLUMNS:
                env, authorization = dict(base), ""
                if "auth" in kind:
                    env.update({k: v for k, v in auth.items() if k.startswith("MCPMESH_")})
                    authorization = auth["BENCH_AUTHORIZATION"]
                if "bus" in kind:
                    env.update(bus.env())
                out = Path(home) / kind.replace("+", "-")
                out.mkdir()
                calls, total = await asyncio.to_thread(count, kind, env, authorization, out)
                results[kind] = total / max(calls, 1)
                print(f"  {kind}: {calls} calls counted", flush=True)
    floor = results["floor"]
    print(f"\ntools/call echo, instructions per call (callgrind, c=4, {SECONDS:g} s)\n")
    print(f"{'server':16s} {'instructions':>13s} {'x floor':>8s} {'floor/it':>9s}")
    for kind, per_call in results.items():
        print(f"{kind:16s} {per_call:13,.0f} {per_call / floor:8.2f} {floor / per_call:9.2f}")
    return 0


def main() -> int:
    missing = [tool for tool in ("valgrind", "callgrind_control", "wrk") if not shutil.which(tool)]
    if missing:
        print(f"skipped: {', '.join(missing)} not installed (Debian packages valgrind, wrk)")
        return 0
    return asyncio.run(run())
