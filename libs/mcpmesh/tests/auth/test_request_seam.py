"""The transport seam: ``await authenticator(request)`` on a real aiohttp server, and the
refusal of a non-loopback service without authentication."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from mcpmesh.auth import Authenticator, AuthError, AuthSettings, exposure_warning
from mcpmesh.config import SettingsError
from mcpmesh.embedded.authserver import AuthServer

from .conftest import GITHUB, client_credentials_token, dpop_proof, new_dpop_key

in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def guarded(authenticator: Authenticator) -> AsyncIterator[str]:
    """A server whose handler runs the seam the transport will run first."""

    async def handler(request: web.Request) -> web.Response:
        try:
            principal = await authenticator(request)
        except AuthError as refusal:
            return web.Response(
                status=refusal.status,
                text=refusal.message,
                headers={"WWW-Authenticate": refusal.www_authenticate},
            )
        return web.json_response({"subject": principal.subject, "jkt": principal.jkt})

    app = web.Application()
    app.router.add_route("*", "/mcp", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/mcp"))
    finally:
        await server.close()


@in_module_loop
async def test_challenge_and_principal_over_http(authserver: AuthServer, guarded: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(guarded) as response:
            assert response.status == 401
            assert "resource_metadata=" in response.headers["WWW-Authenticate"]
        token = await client_credentials_token(authserver, GITHUB, ["github:read"])
        async with http.post(guarded, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200
            assert (await response.json())["subject"] == "mcpmesh-dev"
        async with http.post(guarded + "?access_token=" + token) as response:
            assert response.status == 401  # never from the query string (RFC 6750 §2.3)


@in_module_loop
async def test_dpop_htu_is_the_public_url_not_the_socket(
    authserver: AuthServer, guarded: str
) -> None:
    """The client proves for the canonical URL it was given (as behind a proxy), though
    the request reaches this server on another port."""
    key = new_dpop_key()
    token = await client_credentials_token(authserver, GITHUB, ["github:read"], dpop_key=key)
    async with aiohttp.ClientSession() as http:
        proof = dpop_proof(key, "POST", GITHUB, access_token=token)
        request = {"Authorization": f"DPoP {token}", "DPoP": proof}
        async with http.post(guarded, headers=request) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["jkt"] == key.thumbprint()
        socket_url = dpop_proof(key, "POST", guarded, access_token=token)
        request = {"Authorization": f"DPoP {token}", "DPoP": socket_url}
        async with http.post(guarded, headers=request) as response:
            assert response.status == 401
            assert 'error="invalid_dpop_proof"' in response.headers["WWW-Authenticate"]


def test_non_loopback_without_auth_is_refused() -> None:
    assert exposure_warning("127.0.0.1", AuthSettings()) is None
    assert exposure_warning("::1", AuthSettings()) is None
    with pytest.raises(SettingsError, match="MCPMESH_AUTH_ALLOW_UNAUTHENTICATED"):
        exposure_warning("0.0.0.0", AuthSettings())
    warning = exposure_warning("0.0.0.0", AuthSettings(allow_unauthenticated=True))
    assert warning is not None and "without authentication" in warning
    configured = AuthSettings(issuers=["https://login.example.com"], resource=GITHUB)
    assert exposure_warning("0.0.0.0", configured) is None
