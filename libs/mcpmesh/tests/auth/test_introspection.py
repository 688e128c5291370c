"""Opaque access tokens checked by RFC 7662 introspection at the real authorization server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from mcpmesh.auth import Authenticator, AuthError, AuthSettings
from mcpmesh.auth.introspection import Introspector
from mcpmesh.embedded.authserver import AuthServer

from .conftest import GITHUB, OPAQUE, client_credentials_token, headers

pytestmark = pytest.mark.asyncio(loop_scope="module")


def introspecting(
    server: AuthServer, resource: str, tmp_path: Path, clock: Callable[[], float] = time.time
) -> Authenticator:
    client_id, secret = server.dev_client()
    credentials = tmp_path / "introspection-client.json"
    credentials.write_text(json.dumps({"client_id": client_id, "client_secret": secret}))
    settings = AuthSettings(
        issuers=[server.issuer],
        resource=resource,
        validation="introspection",
        introspection_client_file=str(credentials),
    )
    return Authenticator(settings, scopes=["opaque:read"], clock=clock)


async def test_opaque_token_is_introspected_once(authserver: AuthServer, tmp_path: Path) -> None:
    token = await client_credentials_token(authserver, OPAQUE, ["opaque:read"])
    assert token.count(".") == 0  # opaque, not a JWT
    async with introspecting(authserver, OPAQUE, tmp_path) as checker:
        principal = await checker.authenticate("POST", OPAQUE, headers(token))
        assert (principal.subject, principal.scopes) == ("mcpmesh-dev", {"opaque:read"})
        introspector = checker.validator(authserver.issuer)
        assert isinstance(introspector, Introspector)
        await checker.authenticate("POST", OPAQUE, headers(token))
        assert introspector.requests == 1  # the second call was answered from the cache


async def test_inactive_and_foreign_tokens_are_refused(
    authserver: AuthServer, tmp_path: Path
) -> None:
    async with introspecting(authserver, OPAQUE, tmp_path) as checker:
        with pytest.raises(AuthError, match="not active") as caught:
            await checker.authenticate("POST", OPAQUE, headers("made-up-opaque-token"))
        assert caught.value.status == 401
        for_github = await client_credentials_token(authserver, GITHUB, ["github:read"])
        with pytest.raises(AuthError) as caught:
            await checker.authenticate("POST", OPAQUE, headers(for_github))
        assert caught.value.status == 401


async def test_revoked_token_is_refused_once_the_short_cache_ends(
    authserver: AuthServer, tmp_path: Path
) -> None:
    token = await client_credentials_token(authserver, OPAQUE, ["opaque:read"])
    now = [time.time()]
    checker = introspecting(authserver, OPAQUE, tmp_path, clock=lambda: now[0])
    async with checker:
        await checker.authenticate("POST", OPAQUE, headers(token))
        client_id, secret = authserver.dev_client()
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{authserver.issuer}/token/revocation",
                data={"token": token},
                headers={"Authorization": aiohttp.encode_basic_auth(client_id, secret)},
            ) as response,
        ):
            assert response.status == 200
        await checker.authenticate("POST", OPAQUE, headers(token))  # within the 30 s cache
        now[0] += 31
        with pytest.raises(AuthError, match="not active"):
            await checker.authenticate("POST", OPAQUE, headers(token))
