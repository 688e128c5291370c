"""GitHub service benchmark: latency of read tools through the official Python SDK client
against the GitHub double (the tests' local API double, ``services/github/tests``), and
what the double saw: requests, how many were conditional and answered ``304 Not
Modified`` (ETags reused), and how many TCP connections carried them (connection reuse).

No reference column: the reference server (npm ``@modelcontextprotocol/server-github``)
has ``https://api.github.com`` written into every call, so it cannot be pointed at a
local double; comparing it would mean the real GitHub over the internet.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

CALLS = 200
REPO = {"owner": "octo-org", "repo": "hello"}
TOOLS = ("get_repository", "list_issues", "list_branches", "list_pull_requests")
DOUBLE_DIR = Path(__file__).parents[1] / "services" / "github" / "tests"


async def run() -> None:
    from aiohttp import web

    from mcpmesh.config import ServerSettings
    from mcpmesh.obs.logging import configure_logging
    from mcpmesh.secrets import DevSecretProvider
    from mcpmesh.testing import sdk_session, serve_in_background
    from mcpmesh_github.service import create
    from mcpmesh_github.settings import GitHubSettings

    configure_logging("bench-github", "warning")
    sys.path.insert(0, str(DOUBLE_DIR))
    from github_double import GitHubDouble

    double = GitHubDouble()
    runner = web.AppRunner(double.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    double.base_url = f"http://127.0.0.1:{port}"
    service = create(
        ServerSettings(log_level="warning"),
        github=GitHubSettings(api_url=double.base_url, allowed_repos=["octo-org/*"]),
        secrets=DevSecretProvider({"token": GitHubDouble.PAT}, service="github"),
    )
    samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    try:
        async with serve_in_background(service) as running, sdk_session(running.url) as client:
            for i in range(CALLS):
                tool = TOOLS[i % len(TOOLS)]
                started = time.perf_counter()
                result: Any = await client.call_tool(tool, REPO)
                samples[tool].append((time.perf_counter() - started) * 1000)
                assert not result.is_error, result
    finally:
        await runner.cleanup()
    requests = double.requests
    conditional = sum("If-None-Match" in r.headers for r in requests)
    not_modified = sum(r.status == 304 for r in requests)
    peers = len({r.peer for r in requests})
    print(f"github: {CALLS} sequential calls over {len(TOOLS)} read tools, SDK client, double")
    for tool, values in samples.items():
        print(f"  {tool:<22} p50 {statistics.median(values):7.3f} ms")
    print(
        f"  the double saw {len(requests)} requests: {conditional} conditional "
        f"(If-None-Match), {not_modified} answered 304, over {peers} TCP connection(s)"
    )


def main() -> int:
    asyncio.run(run())
    return 0
