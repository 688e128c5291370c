"""``make run`` end to end: ``mcpmesh up`` starts NATS, OpenBao, PostgreSQL and the
authorization server, then every service; the official Python SDK client signs in with
its own OAuth client (metadata discovery, dynamic registration, code + PKCE for the
service's resource) and uses each printed URL; a call without a token gets the 401
challenge; ``mcpmesh token`` gives scripts a token; a signal stops everything and the
command exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import nats
import pytest
from aiohttp import web

from mcpmesh.scaffold import service_ports
from mcpmesh.testing import eventually, initialize_status, oauth_client, sdk_session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "github" / "tests"))
from github_double import GitHubDouble

#: Every service of the checkout, one made by `mcpmesh new-service` included.
SERVICES = set(service_ports(Path(__file__).resolve().parents[1]))
#: A read-only call that shows each built-in service's backend really answers.
PROBES = {
    "filesystem": "list_allowed_directories",
    "postgres": "list_schemas",
    "slack": "list_channels",
    "github": "get_me",
    "fixture": "test_simple_text",
}


async def read_until_config(stream: asyncio.StreamReader) -> tuple[dict[str, str], dict]:
    """The service table and the client configuration ``mcpmesh up`` prints."""
    lines: list[str] = []
    while True:
        line = await stream.readline()
        if not line:
            raise AssertionError("mcpmesh up ended early:\n" + "".join(lines))
        lines.append(line.decode())
        if line.startswith(b"Ctrl-C stops the mesh."):
            break
    text = "".join(lines)
    urls = dict(re.findall(r"^  (\w+)\s+(http://\S+/mcp)\b", text, re.M))
    shown = text[text.index("Client configuration") :]
    config = json.loads(shown[shown.index("{") : shown.rindex("}") + 1])
    return urls, config, text


async def operator_sees_the_calls(
    stdout: asyncio.StreamReader, workdir: Path, urls: dict[str, str]
) -> None:
    """One readable line per call on the terminal, every line in the service's log file,
    the counters on /metrics, and `mcpmesh status` on the running mesh."""

    async def call_line() -> str:
        while True:
            line = (await stdout.readline()).decode()
            assert line, "mcpmesh up ended early"
            if re.search(r"^\d\d:\d\d:\d\d postgres +list_schemas +ok +[\d.]+ ms", line):
                return line

    await asyncio.wait_for(call_line(), 30)
    logged = [json.loads(line) for line in (workdir / "logs" / "postgres.log").open()]
    assert any(e["event"] == "call" and e["tool"] == "list_schemas" for e in logged)
    async with (
        aiohttp.ClientSession() as http,
        http.get(urls["postgres"].removesuffix("/mcp") + "/metrics") as response,
    ):
        metrics = await response.text()
    assert re.search(
        r'^mcpmesh_request_duration_seconds_count\{method="tools/call",outcome="ok",'
        r'service="postgres",tool="list_schemas"\} [1-9]',
        metrics,
        re.M,
    )
    assert re.search(
        r'^mcpmesh_upstream_duration_seconds_count\{outcome="ok",service="postgres",'
        r'upstream="postgres"\} [1-9]',
        metrics,
        re.M,
    )
    assert re.search(r'^mcpmesh_nats_connected\{service="postgres"\} 1', metrics, re.M)
    status = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        "status",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "MCPMESH_WORKDIR": str(workdir)},
    )
    out, _ = await asyncio.wait_for(status.communicate(), 60)
    report = json.loads(out)
    rows = {row["service"]: row for row in report["services"]}
    assert set(rows) == SERVICES and rows["postgres"]["ready"], rows
    assert set(report["backends"]) == {"nats", "vault", "postgresql"}
    assert report["backends"]["nats"].endswith("up") and report["backends"]["vault"].endswith("up")
    assert re.match(r"\d+ messages, last sequence \d+$", report["audit"]), report["audit"]
    assert not isinstance(report["secrets"], str), report["secrets"]  # listed, not refused


async def use(url: str, *, signed_in: bool) -> dict[str, object]:
    async with sdk_session(url, auth=oauth_client(url) if signed_in else None) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        probe = next((name for name in PROBES.values() if name in tools), None)
        if probe is None:  # a new service: it answers and lists its tools
            return {"tools": tools, "error": not tools, "text": ""}
        result = await session.call_tool(probe, {})
        return {"tools": tools, "error": result.is_error, "text": result.content[0].text}


async def check_zero_trust(workdir: Path) -> None:
    """NATS admits only the mesh's own NKEYs (0600 seeds), and the audit trail of the
    calls above verifies, the Vault-backed services' chains under signed checkpoints."""
    credentials = workdir / "nats" / "credentials"
    assert (credentials / "operator.nk").stat().st_mode & 0o777 == 0o600
    assert (credentials / "github.nk").stat().st_mode & 0o777 == 0o600
    url = (workdir / "nats" / "url").read_text().strip()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(url, max_reconnect_attempts=0, allow_reconnect=False)
    env = {**os.environ, "MCPMESH_WORKDIR": str(workdir)}
    env.pop("MCPMESH_NATS_URL", None)

    async def verified_and_signed() -> str | None:
        verify = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mcpmesh", "audit", "verify",
            stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        out = (await verify.communicate())[0].decode()
        assert verify.returncode == 0, out
        signed = r"^chain postgres\.\w+: \d+ events, [1-9]\d* covered by signed"
        return out if re.search(signed, out, re.M) else None

    # The first checkpoints come within MCPMESH_NATS_AUDIT_CHECKPOINT_SECONDS.
    await eventually(
        verified_and_signed, timeout=60, message="audit verify: a signed postgres chain"
    )


async def refused_without_token(url: str) -> tuple[int, str, dict[str, object]]:
    """An initialize with no token: its status, challenge, and the metadata it points to."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "curl", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=body, headers=headers) as response:
            status, challenge = response.status, response.headers.get("WWW-Authenticate", "")
        found = re.search(r'resource_metadata="([^"]+)"', challenge)
        if found is None:
            return status, challenge, {}
        async with http.get(found.group(1)) as response:
            return status, challenge, await response.json()


async def mcpmesh(*args: str, env: dict[str, str], stdin: str = "") -> tuple[int, str, str]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await child.communicate(stdin.encode())
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def github_double() -> AsyncIterator[GitHubDouble]:
    """The GitHub API double (checked against GitHub's OpenAPI description) on loopback."""
    double = GitHubDouble()
    runner = web.AppRunner(double.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    double.base_url = f"http://127.0.0.1:{port}"
    try:
        yield double
    finally:
        await runner.cleanup()


@pytest.mark.timeout(240)
async def test_mcpmesh_up_serves_every_service(tmp_path: Path) -> None:
    async with github_double() as double:
        await mesh_up_end_to_end(tmp_path, double)


async def mesh_up_end_to_end(tmp_path: Path, double: GitHubDouble) -> None:
    env = {
        **os.environ,
        "MCPMESH_WORKDIR": str(tmp_path / "mesh"),
        "MCPMESH_LOG_LEVEL": "info",  # the call lines are info
        "MCPMESH_GH_API_URL": double.base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        "up",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    try:
        assert process.stdout is not None
        urls, config, text = await asyncio.wait_for(read_until_config(process.stdout), 120)
        assert set(urls) == SERVICES
        assert {f"mcpmesh-{name}" for name in SERVICES} == set(config["mcpServers"])
        issuer = re.search(r"^  authserver\s+(http://\S+)", text, re.M)
        assert issuer is not None, text
        assert "sign in as dev" in text
        protected = SERVICES - {"fixture"}
        # No token: 401 with the challenge naming the service's metadata, which names
        # this service as the resource and the mesh's authorization server.
        for name in protected:
            status, challenge, document = await refused_without_token(urls[name])
            assert status == 401, (name, status)
            assert challenge.startswith("Bearer "), challenge
            assert f'scope="{name}:read"' in challenge, challenge
            assert document["resource"] == urls[name]
            assert document["authorization_servers"] == [issuer.group(1)]
        # Scripts: `mcpmesh token SERVICE` as printed, a token only that service takes.
        code, token, err = await mcpmesh("token", "postgres", env=env)
        assert code == 0, err
        assert await initialize_status(urls["postgres"], token.strip()) == 200
        assert await initialize_status(urls["github"], token.strip()) == 401  # not its aud
        code, _, err = await mcpmesh("token", "github", "--scope", "admin", env=env)
        assert code == 2
        assert "github has no scope admin" in err
        # A real client signs in for every service but the open conformance fixture.
        results = {name: await use(url, signed_in=name in protected) for name, url in urls.items()}
        # Backends really run: Postgres answers from the demo database with dynamic
        # credentials, the filesystem serves its example root.
        assert not results["postgres"]["error"], results["postgres"]
        assert "public" in results["postgres"]["text"]
        assert not results["filesystem"]["error"], results["filesystem"]
        # No tokens are stored yet: the SaaS services say how to set the caller's own.
        assert "mcpmesh secrets set slack bot_token" in results["slack"]["text"]
        assert "mcpmesh secrets set github" in results["github"]["text"]
        assert "dev" in results["github"]["text"]
        assert "test_simple_text" in results["fixture"]["tools"]
        for name in SERVICES - PROBES.keys():
            assert not results[name]["error"], f"{name} lists no tools"
        # The signed-in user's own GitHub token, stored as the printed hint says, is what
        # reaches GitHub: the service reads it from Vault with the user's access token.
        code, _, err = await mcpmesh(
            "secrets", "set", "github", "token", "--for", "dev", env=env, stdin=double.PAT
        )
        assert code == 0, err
        again = await use(urls["github"], signed_in=True)
        assert not again["error"], again
        assert [r.headers.get("Authorization") for r in double.requests if r.path == "/user"] == [
            f"Bearer {double.PAT}"
        ]
        await check_zero_trust(tmp_path / "mesh")
        await operator_sees_the_calls(process.stdout, tmp_path / "mesh", urls)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0
