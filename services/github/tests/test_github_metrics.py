"""GitHub calls on the service's /metrics: latency by outcome and rate-limit waits."""

from __future__ import annotations

import re

import aiohttp
from conftest import pat_secrets
from github_double import GitHubDouble

from mcpmesh.config import ServerSettings
from mcpmesh.testing import sdk_session, serve_in_background
from mcpmesh_github.service import create
from mcpmesh_github.settings import GitHubSettings

HELLO = {"owner": "octo-org", "repo": "hello"}


async def test_upstream_latency_and_rate_limit_wait_are_counted(double: GitHubDouble) -> None:
    double.fail_next = [(429, {"retry-after": "1"}, {"message": "slow down"})]
    service = create(
        ServerSettings(client_request_timeout=5),
        github=GitHubSettings(api_url=double.base_url, allowed_repos=["octo-org/*"]),
        secrets=pat_secrets(),
    )
    async with serve_in_background(service) as running:
        async with sdk_session(running.url) as client:
            result = await client.call_tool("get_repository", HELLO)
            assert not result.is_error
        async with aiohttp.ClientSession() as http, http.get(running.base + "/metrics") as got:
            metrics = await got.text()

    def sample(name: str, **labels: str) -> float:
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", metrics, re.M)
        assert found, f"{name}{{{wanted}}} not in /metrics"
        return float(found.group(1))

    up = "mcpmesh_upstream_duration_seconds_count"
    assert sample(up, outcome="http_429", service="github", upstream="github") == 1
    assert sample(up, outcome="ok", service="github", upstream="github") == 1
    wait = "mcpmesh_upstream_rate_limit_wait_seconds_total"
    assert sample(wait, service="github", upstream="github") == 1.0
