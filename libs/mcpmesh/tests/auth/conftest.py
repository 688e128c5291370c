"""A real authorization server (npm ``oidc-provider`` from ``tools/authserver``, started by
:func:`mcpmesh.embedded.authserver.start_authserver`) and clients that get real tokens
from it: client_credentials, and the authorization code + PKCE flow driven headlessly
through its login and consent pages, with or without DPoP."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws
from joserfc.jwk import ECKey
from multidict import CIMultiDict

from mcpmesh.auth import Authenticator, AuthSettings
from mcpmesh.auth.dpop import access_token_hash
from mcpmesh.embedded.authserver import AuthServer, authserver_dir, start_authserver
from mcpmesh.embedded.process import BackendError

GITHUB = "http://127.0.0.1:8101/mcp"  # the canonical URLs (RFC 8707 resources) of two
SLACK = "http://127.0.0.1:8102/mcp"  # services; nothing needs to listen there
OPAQUE = "http://127.0.0.1:8103/mcp"  # a resource whose tokens are opaque (introspection)
RESOURCES = {
    GITHUB: ["github:read", "github:write"],
    SLACK: ["slack:read", "slack:write"],
    OPAQUE: ["opaque:read"],
}
REDIRECT_URI = "http://127.0.0.1:8199/callback"


def _installed() -> None:
    try:
        authserver_dir()
    except BackendError as exc:
        pytest.skip(f"the authorization server is not installed: {exc}")


@pytest.fixture(scope="module")
def as_workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mcpmesh-auth-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def launch(workdir: Path) -> AuthServer:
    _installed()
    return await start_authserver(
        workdir, RESOURCES, dev_users=("alice", "bob"), opaque_resources=(OPAQUE,)
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def authserver(as_workdir: Path) -> AsyncIterator[AuthServer]:
    server = await launch(as_workdir / "main")
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def other_authserver(as_workdir: Path) -> AsyncIterator[AuthServer]:
    """A second, independent issuer that also knows the GitHub resource."""
    server = await launch(as_workdir / "other")
    try:
        yield server
    finally:
        await server.stop()


def settings_for(server: AuthServer, resource: str = GITHUB, **overrides: Any) -> AuthSettings:
    return AuthSettings(issuers=[server.issuer], resource=resource, **overrides)


@pytest_asyncio.fixture(loop_scope="module")
async def authenticator(authserver: AuthServer) -> AsyncIterator[Authenticator]:
    async with Authenticator(settings_for(authserver), scopes=RESOURCES[GITHUB]) as checker:
        yield checker


def headers(
    token: str | None = None, *, scheme: str = "Bearer", dpop: str | None = None
) -> CIMultiDict[str]:
    """Request headers as aiohttp gives them to the transport."""
    found: CIMultiDict[str] = CIMultiDict()
    if token is not None:
        found["Authorization"] = f"{scheme} {token}"
    if dpop is not None:
        found["DPoP"] = dpop
    return found


def new_dpop_key() -> ECKey:
    return ECKey.generate_key("P-256")


def dpop_proof(
    key: ECKey,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    iat: float | None = None,
    jti: str | None = None,
) -> str:
    """A DPoP proof as a client makes it (RFC 9449 §4.2), signed with joserfc."""
    claims: dict[str, Any] = {
        "jti": jti or str(uuid.uuid4()),
        "htm": method,
        "htu": url,
        "iat": int(time.time() if iat is None else iat),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jws.serialize_compact(header, json.dumps(claims), key)


async def client_credentials_token(
    server: AuthServer, resource: str, scopes: Sequence[str] = (), *, dpop_key: ECKey | None = None
) -> str:
    proof = dpop_proof(dpop_key, "POST", server.token_endpoint) if dpop_key else None
    response = await server.dev_token(resource, scopes, dpop_proof=proof)
    return str(response["access_token"])


async def authorization_code_token(
    server: AuthServer,
    resource: str,
    scopes: Sequence[str],
    *,
    user: str = "alice",
    dpop_key: ECKey | None = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    """What an MCP client does, headlessly: register (RFC 7591) unless ``client_id`` is
    given, authorize with PKCE and a resource indicator, log in and consent on the
    server's pages, redeem the code. The token response gets ``client_id`` added."""
    jar = aiohttp.CookieJar(unsafe=True)  # cookies on an IP-address host
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        if client_id is None:
            client_id = await _register(http, server)
        verifier = secrets.token_urlsafe(48)
        state = secrets.token_urlsafe(16)
        location = f"{server.issuer}/auth?" + urlencode(
            {
                "client_id": client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": " ".join(scopes),
                "resource": resource,
                "state": state,
                "code_challenge": create_s256_code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        code = await _follow_to_code(http, location, user)
        assert code["state"] == [state]
        form = {
            "grant_type": "authorization_code",
            "code": code["code"][0],
            "redirect_uri": REDIRECT_URI,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": resource,
        }
        proof = {"DPoP": dpop_proof(dpop_key, "POST", server.token_endpoint)} if dpop_key else {}
        async with http.post(server.token_endpoint, data=form, headers=proof) as response:
            body = await response.json()
            assert response.status == 200, body
            return {**body, "client_id": client_id}


async def _register(http: aiohttp.ClientSession, server: AuthServer) -> str:
    async with http.post(
        f"{server.issuer}/reg",
        json={
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "client_name": "mcpmesh test client",
        },
    ) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["client_id"])


async def _follow_to_code(
    http: aiohttp.ClientSession, location: str, user: str
) -> dict[str, list[str]]:
    for _ in range(12):
        if location.startswith(REDIRECT_URI):
            return parse_qs(urlsplit(location).query)
        async with http.get(location, allow_redirects=False) as response:
            if response.status in (302, 303):
                location = urljoin(location, response.headers["Location"])
                continue
            page = await response.text()
            assert response.status == 200, page
        if 'value="login"' in page:
            form = {"prompt": "login", "login": user, "password": "any"}
        else:
            assert 'value="consent"' in page, page
            form = {"prompt": "consent"}
        async with http.post(location, data=form, allow_redirects=False) as response:
            assert response.status in (302, 303), await response.text()
            location = urljoin(location, response.headers["Location"])
    raise AssertionError("the authorization flow did not end at the redirect URI")
