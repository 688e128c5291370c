"""The one load generator every HTTP benchmark uses: wrk with a Lua script that spreads
its threads over one or more targets (replicas), each thread with its target's MCP
session, a unique JSON-RPC id per request, and a count of answers that are not results.

``run_wrk`` returns calls/s, p50/p99 and the number of bad answers; the body is a
JSON-RPC request whose ``"id"`` is the marker ``"__ID__"``.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK_SCRIPT = r"""
-- Globals, not locals: setup() and done() reach each thread's globals via get/set.
counter = 0
thread_id = 0
bad = 0
session = ""
threads = {}
local targets = {}
local sessions = {}
function setup(thread)
  if #targets == 0 then
    for target in string.gmatch(os.getenv("BENCH_TARGETS"), "[^,]+") do
      local host, port = target:match("([^:]+):(%d+)")
      table.insert(targets, wrk.lookup(host, port)[1])
    end
    for s in string.gmatch(os.getenv("BENCH_SESSIONS"), "[^,]+") do table.insert(sessions, s) end
  end
  local i = #threads
  thread.addr = targets[i % #targets + 1]
  thread:set("thread_id", i + 1)
  thread:set("session", sessions[i % #sessions + 1])
  table.insert(threads, thread)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json, text/event-stream"
  if session ~= "-" then wrk.headers["Mcp-Session-Id"] = session end
  wrk.headers["MCP-Protocol-Version"] = os.getenv("BENCH_MCP_VERSION")
  local auth = os.getenv("BENCH_AUTHORIZATION")
  if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end
  for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^:\n]+): ([^\n]+)") do
    wrk.headers[name] = value
  end
  template = os.getenv("BENCH_BODY")
end
function request()
  counter = counter + 1
  local body = template:gsub("__ID__", thread_id .. "-" .. counter)
  return wrk.format(nil, nil, nil, body)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total_bad = 0
  for _, thread in ipairs(threads) do total_bad = total_bad + thread:get("bad") end
  io.write(string.format("BAD %d\nANSWERED %d\n", total_bad, summary.requests))
  io.write(string.format("P50 %f\nP99 %f\n", latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Load:
    """One wrk run's figures."""

    rps: float
    p50_ms: float
    p99_ms: float
    answered: int
    bad: int


def _script() -> Path:
    path = Path(tempfile.gettempdir()) / f"mcpmesh-bench-{os.getpid()}.lua"
    if not path.exists():
        path.write_text(WRK_SCRIPT)
    return path


def run_wrk(
    urls: list[str],
    sessions: list[str | None],
    body: str,
    connections: int,
    seconds: float,
    *,
    version: str = "2025-06-18",
    authorization: str = "",
    headers: dict[str, str] | None = None,
) -> Load:
    """``connections`` connections for ``seconds`` over ``urls`` (same path on each),
    thread ``i`` on ``urls[i % n]`` with ``sessions[i % n]`` (None: no session header)."""
    threads = min(connections, max(2, len(urls)))
    targets = ",".join(urlsplit(u).netloc for u in urls)
    duration = f"{max(1, round(seconds))}s"  # wrk takes whole seconds
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", duration]
    output = subprocess.run(
        [*argv, "-s", str(_script()), urls[0]],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "BENCH_TARGETS": targets,
            "BENCH_SESSIONS": ",".join(s or "-" for s in sessions),
            "BENCH_BODY": body,
            "BENCH_MCP_VERSION": version,
            "BENCH_AUTHORIZATION": authorization,
            "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items()),
        },
    ).stdout
    bad = _int(r"^BAD (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(
        rps=float(_match(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=float(_match(r"^P50 ([\d.]+)", output)) / 1000,
        p99_ms=float(_match(r"^P99 ([\d.]+)", output)) / 1000,
        answered=_int(r"^ANSWERED (\d+)", output),
        bad=bad + (int(non2xx.group(1)) if non2xx else 0),
    )


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.M)
    if found is None:
        raise RuntimeError(f"wrk output without {pattern!r}:\n{text}")
    return found.group(1)


def _int(pattern: str, text: str) -> int:
    return int(_match(pattern, text))


def tool_call_body(name: str, arguments: str) -> str:
    """A ``tools/call`` request for :func:`run_wrk` (``arguments`` is JSON text)."""
    return (
        '{"jsonrpc":"2.0","id":"__ID__","method":"tools/call",'
        f'"params":{{"name":"{name}","arguments":{arguments}}}}}'
    )
