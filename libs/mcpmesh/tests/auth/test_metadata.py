"""What clients read: protected resource metadata (RFC 9728), challenges (RFC 6750 §3,
RFC 9449 §7.1), and settings refused before they can weaken the checks."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mcpmesh.auth import (
    Authenticator,
    AuthError,
    AuthSettings,
    insufficient_scope,
    metadata_paths,
    metadata_url,
    protected_resource_metadata,
)
from mcpmesh.config import SettingsError, load_settings
from mcpmesh.embedded.authserver import AuthServer

from .conftest import GITHUB, RESOURCES, headers, settings_for

in_module_loop = pytest.mark.asyncio(loop_scope="module")


def test_both_well_known_forms() -> None:
    assert metadata_paths("https://mcp.example.com/github/mcp") == (
        "/.well-known/oauth-protected-resource/github/mcp",
        "/.well-known/oauth-protected-resource",
    )
    assert metadata_paths("https://mcp.example.com") == ("/.well-known/oauth-protected-resource",)
    assert (
        metadata_url("https://mcp.example.com/github/mcp")
        == "https://mcp.example.com/.well-known/oauth-protected-resource/github/mcp"
    )


def test_metadata_document() -> None:
    document = protected_resource_metadata(
        "https://mcp.example.com/github/mcp",
        ["https://login.example.com"],
        ["github:write", "github:read"],
        dpop_algorithms=["ES256"],
    )
    assert document == {
        "resource": "https://mcp.example.com/github/mcp",
        "authorization_servers": ["https://login.example.com"],
        "scopes_supported": ["github:read", "github:write"],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["ES256"],
    }
    assert "offline_access" not in document["scopes_supported"]


def test_insufficient_scope_names_every_scope_needed() -> None:
    refusal = insufficient_scope(
        "https://h/.well-known/oauth-protected-resource/mcp", ["github:write", "github:read"]
    )
    assert refusal.status == 403
    assert refusal.www_authenticate == (
        'Bearer error="insufficient_scope", '
        'error_description="this call needs the scopes: github:read github:write", '
        'scope="github:read github:write", '
        'resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"'
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MCPMESH_AUTH_ALGORITHMS": "RS256,none"}, "MCPMESH_AUTH_ALGORITHMS"),
        ({"MCPMESH_AUTH_ALGORITHMS": "HS256"}, "MCPMESH_AUTH_ALGORITHMS"),
        ({"MCPMESH_AUTH_DPOP_ALGORITHMS": "HS512"}, "MCPMESH_AUTH_DPOP_ALGORITHMS"),
        ({"MCPMESH_AUTH_RESOURCE": ""}, "MCPMESH_AUTH_RESOURCE"),
        ({"MCPMESH_AUTH_VALIDATION": "introspection"}, "MCPMESH_AUTH_INTROSPECTION_CLIENT_FILE"),
    ],
)
def test_weakening_settings_are_refused(env: dict[str, str], variable: str) -> None:
    base = {"MCPMESH_AUTH_ISSUERS": "https://login.example.com", "MCPMESH_AUTH_RESOURCE": GITHUB}
    settings = load_settings(AuthSettings, "MCPMESH_AUTH_", {**base, **env})
    with pytest.raises(SettingsError, match=variable):
        settings.checked()


def test_settings_from_the_environment() -> None:
    settings = load_settings(
        AuthSettings,
        "MCPMESH_AUTH_",
        {
            "MCPMESH_AUTH_ISSUERS": "https://a.example.com,https://b.example.com",
            "MCPMESH_AUTH_RESOURCE": GITHUB,
            "MCPMESH_AUTH_REQUIRE_DPOP": "true",
        },
    ).checked()
    assert settings.issuers == ["https://a.example.com", "https://b.example.com"]
    assert settings.require_dpop and settings.enabled
    assert not AuthSettings().enabled


@in_module_loop
async def test_issuer_metadata_is_discovered_and_checked(authserver: AuthServer) -> None:
    async with Authenticator(settings_for(authserver), scopes=RESOURCES[GITHUB]) as checker:
        await checker.start()
        document = checker.metadata_document()
    assert document["authorization_servers"] == [authserver.issuer]
    assert document["scopes_supported"] == ["github:read", "github:write"]


@in_module_loop
async def test_authorization_server_metadata(authserver: AuthServer) -> None:
    """What MCP clients rely on: code + PKCE S256, registration, resource indicators'
    scopes, DPoP, and no offline_access / implicit flow."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{authserver.issuer}/.well-known/openid-configuration") as response,
    ):
        document = await response.json()
    assert document["issuer"] == authserver.issuer
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert document["registration_endpoint"] == f"{authserver.issuer}/reg"
    assert {"authorization_code", "client_credentials"} <= set(document["grant_types_supported"])
    assert "offline_access" not in document["scopes_supported"]
    assert "github:read" in document["scopes_supported"]
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    assert document["introspection_endpoint"]


@in_module_loop
async def test_unreachable_issuer_is_503_and_not_hammered() -> None:
    """An issuer that is down (here: a server that answers every request with 503)
    gives 503, and a flood of requests costs it one discovery attempt per interval."""
    hits: list[str] = []

    async def down(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", down)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    issuer = str(server.make_url("")).rstrip("/")
    now = [1000.0]
    settings = AuthSettings(issuers=[issuer], resource=GITHUB, http_timeout=1.0)
    try:
        async with Authenticator(settings, monotonic=lambda: now[0]) as checker:
            for _ in range(20):
                with pytest.raises(AuthError) as caught:
                    await checker.authenticate("POST", GITHUB, headers("some.jwt.token"))
                assert caught.value.status == 503
                assert "resource_metadata=" in caught.value.www_authenticate
            assert len(hits) == 2  # RFC 8414 and OIDC discovery URLs, tried once
            now[0] += 31
            with pytest.raises(AuthError):
                await checker.authenticate("POST", GITHUB, headers("some.jwt.token"))
            assert len(hits) == 4
    finally:
        await server.close()
