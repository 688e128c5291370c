"""Fixtures: the GitHub double on a loopback port, the service pointed at it, and an
official MCP SDK client session."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mcpmesh.config import ServerSettings
from mcpmesh.secrets import DevSecretProvider
from mcpmesh.testing import sdk_client, sdk_session, serve_in_background
from mcpmesh_github.service import create
from mcpmesh_github.settings import GitHubSettings
from mcpmesh_github.state import State

sys.path.insert(0, str(Path(__file__).parent))
from github_double import GitHubDouble


@pytest.fixture(scope="session")
def app_key() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


@pytest.fixture
async def double(app_key: tuple[str, Any]) -> AsyncIterator[GitHubDouble]:
    fake = GitHubDouble()
    fake.app_public_key = app_key[1]
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def pat_secrets() -> DevSecretProvider:
    return DevSecretProvider({"token": GitHubDouble.PAT}, service="github")


def app_secrets(double: GitHubDouble, pem: str) -> DevSecretProvider:
    return DevSecretProvider(
        {
            "app_id": double.app_id,
            "app_installation_id": str(double.installation_id),
            "app_private_key": pem,
        },
        service="github",
    )


class Mesh:
    """Opens MCP client sessions against a service built with given settings."""

    def __init__(self, double: GitHubDouble) -> None:
        self.double = double
        self.service: Any = None
        self.state: State | None = None

    @contextlib.asynccontextmanager
    async def session(
        self,
        *,
        secrets: DevSecretProvider | None = None,
        elicitation: Callable[..., Any] | None = None,
        modern: bool = False,
        **overrides: Any,
    ) -> AsyncIterator[Any]:
        """``modern``: the SDK's 2026-07-28 ``Client`` instead of a 2025 session."""
        settings = {
            "api_url": self.double.base_url,
            "allowed_repos": ["octo-org/*"],
            "max_rate_limit_wait": 5.0,
        } | overrides
        self.service = create(
            ServerSettings(client_request_timeout=5),
            github=GitHubSettings(**settings),
            secrets=secrets if secrets is not None else pat_secrets(),
        )
        async with (
            serve_in_background(self.service) as running,
            (
                sdk_client(running.url, elicitation=elicitation)
                if modern
                else sdk_session(running.url, elicitation=elicitation)
            ) as session,
        ):
            self.state = running.state
            yield session


@pytest.fixture
def mesh(double: GitHubDouble) -> Mesh:
    return Mesh(double)
