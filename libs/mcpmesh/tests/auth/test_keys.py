"""Signing keys: the validator follows the authorization server's key rotation, and a
flood of made-up key ids cannot make it hammer the server."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mcpmesh.auth import Authenticator, AuthError
from mcpmesh.auth.jwks import JWKSCache
from mcpmesh.auth.jwt import JWTValidator
from mcpmesh.embedded.authserver import AuthServer

from .conftest import (
    GITHUB,
    authorization_code_token,
    client_credentials_token,
    headers,
    launch,
    settings_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rotating(as_workdir: Path) -> AsyncIterator[AuthServer]:
    """An authorization server of this module's own: rotation must not disturb the others."""
    server = await launch(as_workdir / "rotating")
    try:
        yield server
    finally:
        await server.stop()


def kid_of(token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"])


def jwks_of(checker: Authenticator, issuer: str) -> JWKSCache:
    validator = checker.validator(issuer)
    assert isinstance(validator, JWTValidator)
    return validator.jwks


async def test_rotation_unknown_kid_refreshes_the_jwks(rotating: AuthServer) -> None:
    now = [1000.0]
    settings = settings_for(rotating, jwks_min_refresh_interval=30.0)
    async with Authenticator(settings, monotonic=lambda: now[0]) as checker:
        before = await client_credentials_token(rotating, GITHUB, ["github:read"])
        await checker.authenticate("POST", GITHUB, headers(before))
        jwks = jwks_of(checker, rotating.issuer)
        assert jwks.fetches == 1

        new_kid = await rotating.rotate_keys()
        await rotating.restart()
        after = await client_credentials_token(rotating, GITHUB, ["github:read"])
        assert kid_of(after) == new_kid != kid_of(before)

        now[0] += 31  # past the refresh rate limit: the unknown kid fetches the JWKS again
        principal = await checker.authenticate("POST", GITHUB, headers(after))
        assert principal.subject == "mcpmesh-dev"
        assert jwks.fetches == 2
        # the previous key stays published, so tokens signed before the rotation still pass
        await checker.authenticate("POST", GITHUB, headers(before, scheme="Bearer"))


async def test_unknown_kid_flood_fetches_at_most_once_per_interval(
    rotating: AuthServer,
) -> None:
    now = [1000.0]
    settings = settings_for(rotating, jwks_min_refresh_interval=30.0)
    async with Authenticator(settings, monotonic=lambda: now[0]) as checker:
        real = await client_credentials_token(rotating, GITHUB, ["github:read"])
        await checker.authenticate("POST", GITHUB, headers(real))
        head, payload, signature = real.split(".")
        header = json.loads(base64.urlsafe_b64decode(head + "=="))
        now[0] += 31
        for number in range(50):
            bogus = {**header, "kid": f"made-up-{number}"}
            encoded = base64.urlsafe_b64encode(json.dumps(bogus).encode()).rstrip(b"=").decode()
            with pytest.raises(AuthError, match="no key"):
                await checker.authenticate(
                    "POST", GITHUB, headers(f"{encoded}.{payload}.{signature}")
                )
        assert jwks_of(checker, rotating.issuer).fetches == 2  # the first, and one refresh


async def test_keys_persist_privately_and_tokens_survive_a_restart(rotating: AuthServer) -> None:
    for name in ("keys.json", "cookies.json", "dev-client.json"):
        mode = stat.S_IMODE((rotating.home / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    assert stat.S_IMODE(rotating.home.stat().st_mode) == 0o700
    token = await client_credentials_token(rotating, GITHUB, ["github:read"])
    await rotating.restart()
    async with Authenticator(settings_for(rotating)) as checker:
        assert (await checker.authenticate("POST", GITHUB, headers(token))).subject


async def test_registered_clients_survive_a_restart(rotating: AuthServer) -> None:
    """An MCP client registers once; after a restart its client_id still works."""
    tokens = await authorization_code_token(rotating, GITHUB, ["github:read"])
    client_id = tokens["client_id"]
    await rotating.restart()
    again = await authorization_code_token(rotating, GITHUB, ["github:read"], client_id=client_id)
    async with Authenticator(settings_for(rotating)) as checker:
        principal = await checker.authenticate("POST", GITHUB, headers(again["access_token"]))
    assert principal.client_id == client_id
    assert stat.S_IMODE((rotating.home / "clients.json").stat().st_mode) == 0o600
