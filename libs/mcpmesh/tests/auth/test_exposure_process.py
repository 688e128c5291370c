"""Secure by default, as an operator meets it: ``mcpmesh serve`` of a real service on a
non-loopback address without authentication refuses to start (status 2, saying what to
set); the explicit opt-out starts it with a loud warning; the conformance fixture
(``Service(public=True)``) may serve open."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import pytest

MCPMESH = str(Path(sys.executable).with_name("mcpmesh"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMESH_")}
    return (
        env | {"MCPMESH_HOST": "0.0.0.0", "MCPMESH_PORT": "0", "MCPMESH_LOG_JSON": "true"} | extra
    )


async def _serve_until_listening(service: str, **extra: str) -> tuple[str, str]:
    """Start ``mcpmesh serve``; return its URL and what it logged, once it listens."""
    process = await asyncio.create_subprocess_exec(
        MCPMESH,
        "serve",
        service,
        env=_env(**extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(30):
            while True:
                line = (await process.stdout.readline()).decode()
                assert line, "exited before listening:\n" + "".join(seen)
                seen.append(line)
                if '"listening"' in line:
                    url = line.split('"url": "', 1)[1].split('"', 1)[0]
                    async with (
                        aiohttp.ClientSession() as http,
                        http.get(url.replace("/mcp", "/healthz")) as response,
                    ):
                        assert response.status == 200
                    return url, "".join(seen)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def test_a_real_service_refuses_a_public_address_without_auth() -> None:
    process = await asyncio.create_subprocess_exec(
        MCPMESH,
        "serve",
        "github",
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 2
    message = err.decode()
    assert "github refused to start" in message
    assert (
        "MCPMESH_AUTH_ISSUERS" in message and "MCPMESH_AUTH_ALLOW_UNAUTHENTICATED=true" in message
    )
    assert '"listening"' not in out.decode()


async def test_the_explicit_opt_out_starts_it_loudly() -> None:
    _url, logged = await _serve_until_listening("github", MCPMESH_AUTH_ALLOW_UNAUTHENTICATED="true")
    assert "UNAUTHENTICATED_EXPOSURE" in logged
    assert "MCPMESH_AUTH_ALLOW_UNAUTHENTICATED=true" in logged


async def test_the_conformance_fixture_is_public() -> None:
    _url, logged = await _serve_until_listening("fixture")
    assert "public_service_without_authentication" in logged
    assert "UNAUTHENTICATED_EXPOSURE" not in logged


@pytest.mark.parametrize("service", ["github"])
async def test_with_auth_configured_it_starts_on_any_address(service: str, tmp_path: Path) -> None:
    """Issuers and resource set: no refusal and no warning (the issuer need not answer
    for the service to start; requests would get 503 until it does)."""
    _url, logged = await _serve_until_listening(
        service,
        MCPMESH_AUTH_ISSUERS='["http://127.0.0.1:9"]',
        MCPMESH_AUTH_RESOURCE="http://127.0.0.1:8101/mcp",
    )
    assert "UNAUTHENTICATED_EXPOSURE" not in logged
    assert "authorization_server_unavailable" in logged
