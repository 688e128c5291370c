"""Protocol benchmark: a trivial tools/call under wrk at concurrency 1, 8 and 32.

Both servers get the same load: one MCP session (initialized over HTTP first), then wrk
POSTs ``tools/call echo`` with that session's header and a unique request id per call,
and counts any answer that is not a JSON-RPC result. Also measured: time from process
start to ready, and resident memory when idle. mcpmesh is also measured on the 2026-07-28
stateless wire (no session: every call carries ``_meta`` and the ``Mcp-Method``/``Mcp-Name``
headers), beside the 2025 session wire. Targets (issue 2): at least 10x FastMCP's calls/s,
p50 < 1 ms at c=1, idle RSS < 60 MB, ready < 1 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from mcpmesh.embedded.process import free_port

DURATION_S = int(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = (1, 8, 32)
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

WRK_SCRIPT = r"""
-- Globals, not locals: setup() and done() reach each thread's globals via get/set.
counter = 0
thread_id = 0
bad = 0
threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  wrk.headers["Mcp-Session-Id"] = os.getenv("MCP_SESSION")
  wrk.headers["MCP-Protocol-Version"] = os.getenv("MCP_VERSION")
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"jsonrpc":"2.0","id":"%d-%d","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}',
    thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do total_bad = total_bad + thread:get("bad") end
  io.write(string.format("BAD %d\n", total_bad))
  io.write(string.format("P50 %f\nP99 %f\n", latency:percentile(50), latency:percentile(99)))
end
"""


#: The same load on the 2026-07-28 wire: no session, ``_meta`` and the standard headers.
WRK_SCRIPT_2026 = WRK_SCRIPT.replace(
    """  wrk.headers["Mcp-Session-Id"] = os.getenv("MCP_SESSION")
  wrk.headers["MCP-Protocol-Version"] = os.getenv("MCP_VERSION")\n""",
    """  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = "echo"\n""",
).replace(
    """"arguments":{"text":"hi"}}}',""",
    """"arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}',""",
)
assert WRK_SCRIPT_2026 != WRK_SCRIPT and "2026-07-28" in WRK_SCRIPT_2026


def post(url: str, body: dict, session: str | None = None) -> tuple[dict[str, str], bytes]:
    headers = dict(HEADERS)
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-06-18"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(response.headers), response.read()


def open_session(url: str) -> tuple[str, str]:
    headers, _ = post(
        url,
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            },
        },
    )
    session = headers.get("mcp-session-id") or headers["Mcp-Session-Id"]
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    _, body = post(
        url,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hi"}},
        },
        session,
    )
    assert b'"hi"' in body and b'"result"' in body, body[:300]
    return session, "2025-06-18"


def start(kind: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._echo_servers", kind, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}/mcp"
    while True:
        try:
            open_session(url)
            return process, url, time.perf_counter() - began
        except (OSError, KeyError, AssertionError):
            if process.poll() is not None or time.perf_counter() - began > 30:
                raise RuntimeError(f"{kind} server did not start") from None
            time.sleep(0.01)


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used (``/proc/<pid>/stat``): per-call cost that a
    busy, shared machine does not blur the way it blurs calls/s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_wrk(
    url: str, session: str, version: str, connections: int, script: Path
) -> dict[str, float]:
    threads = min(connections, 2)
    output = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{DURATION_S}s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "MCP_SESSION": session, "MCP_VERSION": version},
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    bad = int(re.search(r"^BAD (\d+)", output, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rate,
        "p50_ms": float(re.search(r"^P50 ([\d.]+)", output, re.M).group(1)) / 1000,
        "p99_ms": float(re.search(r"^P99 ([\d.]+)", output, re.M).group(1)) / 1000,
        "bad": bad + (int(non2xx.group(1)) if non2xx else 0),
        "requests": requests,
    }


def run_measured(
    pid: int, url: str, session: str, version: str, connections: int, script: Path
) -> dict[str, float]:
    """One wrk run, plus the server's CPU microseconds per call during it."""
    before = cpu_seconds(pid)
    run = run_wrk(url, session, version, connections, script)
    run["cpu_us"] = (cpu_seconds(pid) - before) / max(1, run["requests"]) * 1e6
    return run


def measure(kind: str, script: Path, modern_script: Path | None = None) -> dict:
    process, url, ready_s = start(kind)
    try:
        time.sleep(0.5)
        idle = rss_mb(process.pid)
        session, version = open_session(url)
        pid = process.pid
        runs = {c: run_measured(pid, url, session, version, c, script) for c in CONCURRENCY}
        modern = (
            {c: run_measured(pid, url, "", "", c, modern_script) for c in CONCURRENCY}
            if modern_script is not None
            else None
        )
        return {"ready_s": ready_s, "idle_rss_mb": idle, "runs": runs, "modern": modern}
    finally:
        process.terminate()
        process.wait(timeout=15)


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk); `make bench` installs it")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "call.lua"
        script.write_text(WRK_SCRIPT)
        modern_script = Path(tmp) / "call-2026.lua"
        modern_script.write_text(WRK_SCRIPT_2026)
        results = {
            "mcpmesh": measure("mcpmesh", script, modern_script),
            "fastmcp": measure("fastmcp", script),
        }
    print(f"tools/call echo, {DURATION_S} s per run, wrk on loopback, {os.cpu_count()} cores\n")
    rows = [(kind, result["runs"]) for kind, result in results.items()]
    rows.insert(1, ("mcpmesh 2026-07-28", results["mcpmesh"]["modern"]))
    print(
        f"{'server':<19} {'c':>3} {'calls/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU us/call':>12} {'errors':>7}"
    )
    for kind, runs in rows:
        for c, run in runs.items():
            print(
                f"{kind:<19} {c:>3} {run['rps']:>10.0f} {run['p50_ms']:>8.3f} "
                f"{run['p99_ms']:>8.3f} {run['cpu_us']:>12.0f} {run['bad']:>7}"
            )
    for kind, result in results.items():
        print(f"{kind:<9} ready {result['ready_s']:.2f} s, idle RSS {result['idle_rss_mb']:.1f} MB")
    ours, theirs = results["mcpmesh"]["runs"], results["fastmcp"]["runs"]
    ratios = {c: ours[c]["rps"] / theirs[c]["rps"] for c in CONCURRENCY}
    print("mcpmesh / FastMCP calls/s: " + ", ".join(f"c={c}: {r:.1f}x" for c, r in ratios.items()))
    modern = results["mcpmesh"]["modern"]
    print(
        "mcpmesh 2026-07-28 / 2025-11-25 wire calls/s: "
        + ", ".join(f"c={c}: {modern[c]['rps'] / ours[c]['rps']:.2f}x" for c in CONCURRENCY)
    )
    errors = sum(run["bad"] for _, runs in rows for run in runs.values())
    return 1 if errors else 0
