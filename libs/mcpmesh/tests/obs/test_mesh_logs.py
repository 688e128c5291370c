"""What ``mcpmesh up`` does with its services' logs: all of it to a file, the calls (and
warnings) readable on the terminal once the summary is out."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path

from mcpmesh.commands.logs import ServiceLogs, readable

LINES = [
    {"event": "listening", "level": "info", "timestamp": "2026-12-01T10:00:00Z"},
    {
        "event": "call",
        "level": "info",
        "timestamp": "2026-12-01T10:00:01.5Z",
        "tool": "query",
        "outcome": "ok",
        "ms": 12.5,
        "principal": "alice",
        "error": None,
        "session": "abcd1234",
    },
    {"event": "vault_unreachable", "level": "warning", "timestamp": "2026-12-01T10:00:02Z"},
]


async def test_every_line_to_the_file_calls_and_warnings_to_the_terminal(tmp_path: Path) -> None:
    script = "import sys\nfor line in sys.stdin: sys.stderr.write(line)\n"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out = io.StringIO()
    logs = ServiceLogs(tmp_path, out=out)
    logs.quiet = False
    logs.follow("postgres", process.stderr)
    body = "".join(json.dumps(line) + "\n" for line in LINES) + "Traceback (most recent...)\n"
    assert process.stdin is not None
    process.stdin.write(body.encode())
    await process.stdin.drain()
    process.stdin.close()
    await process.wait()
    await logs.close()
    saved = (tmp_path / "logs" / "postgres.log").read_text().splitlines()
    assert len(saved) == 4 and json.loads(saved[1])["tool"] == "query"
    shown = out.getvalue().splitlines()
    assert shown == [
        "10:00:01 postgres    query  ok  12.5 ms  by alice",
        "10:00:02 postgres    WARNING vault_unreachable",
    ]


def test_every_line_readable_with_logs_switch() -> None:
    assert readable("github", json.dumps(LINES[0])) == "10:00:00 github      listening"
    assert readable("github", "not json").endswith("github      not json")
    failed = {**LINES[1], "outcome": "failed", "error": "TimeoutError", "principal": None}
    assert readable("github", json.dumps(failed)).endswith("query  failed  12.5 ms  (TimeoutError)")
