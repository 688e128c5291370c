"""Each caller's own upstream credential, end to end: the real GitHub service with
authentication on (tokens from the real authorization server, two users), GitHub
replaced by its double. Each user's call reaches the double with that user's own stored
token; a caller without one gets a clear error and the double sees nothing, unless the
operator allows the shared credential; the audit says which kind was used."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from mcpmesh.auth import AuthSettings
from mcpmesh.config import ServerSettings
from mcpmesh.embedded.authserver import AuthServer
from mcpmesh.secrets import DevSecretProvider
from mcpmesh.server import middleware as entries
from mcpmesh_github.service import create
from mcpmesh_github.settings import GitHubSettings

from .conftest import GITHUB, SLACK, authorization_code_token, client_credentials_token
from .test_service_auth import Caller, serving

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "services" / "github" / "tests"))
from github_double import CALLER, GitHubDouble, private_user_json

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE_PAT = "ghp_" + "a" * 36
BOB_PAT = "ghp_" + "b" * 36


class TwoUserDouble(GitHubDouble):
    """The double, knowing two more users' personal access tokens."""

    LOGINS = {ALICE_PAT: ("alice", 2), BOB_PAT: ("bob", 4)}

    def _authenticate(self, request: web.Request) -> dict[str, Any]:
        credential = request.headers.get("Authorization", "").partition(" ")[2]
        if credential in self.LOGINS:
            return {"kind": "pat", "login": self.LOGINS[credential][0]}
        return super()._authenticate(request)

    async def get_user(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        if caller.get("login") in ("alice", "bob"):
            login = caller["login"]
            user_id = next(i for name, i in self.LOGINS.values() if name == login)
            return self.respond(request, private_user_json(login, user_id, login.title()))
        return await super().get_user(request)


@pytest_asyncio.fixture(loop_scope="module")
async def double() -> AsyncIterator[TwoUserDouble]:
    fake = TwoUserDouble()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.base_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def user_tokens(authserver: AuthServer) -> dict[str, str]:
    alice = await authorization_code_token(authserver, GITHUB, ["github:read"])
    bob = await authorization_code_token(authserver, GITHUB, ["github:read"], user="bob")
    return {
        "alice": alice["access_token"],
        "bob": bob["access_token"],
        # the dev client: a principal (mcpmesh-dev) with no GitHub token of its own
        "nobody": await client_credentials_token(authserver, GITHUB, ["github:read"]),
    }


@contextlib.asynccontextmanager
async def github_with_auth(
    authserver: AuthServer, double: GitHubDouble, events: list[tuple[Any, ...]]
) -> AsyncIterator[str]:
    secrets = DevSecretProvider(
        {
            "principals/alice/token": ALICE_PAT,
            "principals/bob/token": BOB_PAT,
            "token": GitHubDouble.PAT,  # the service's shared one
        },
        service="github",
    )
    service = create(
        ServerSettings(client_request_timeout=5),
        github=GitHubSettings(api_url=double.base_url, allowed_repos=["octo-org/*"]),
        secrets=secrets,
    )

    def hook(*event: Any, principal: str | None = None, credential: str | None = None) -> None:
        events.append((event[1], principal, credential, event[4]))

    auth = AuthSettings(issuers=[authserver.issuer], resource=GITHUB)
    async with serving(service, auth, middleware=[entries.audit(hook)]) as (url, _app):
        yield url


async def get_me(url: str, token: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        caller = Caller(http, url, token)
        assert (await caller.initialize()).status == 200
        response = await caller.call_tool("get_me")
        assert response.status == 200
        return (await response.json())["result"]


async def test_each_principal_reaches_github_with_its_own_token(
    authserver: AuthServer, double: TwoUserDouble, user_tokens: dict[str, str]
) -> None:
    events: list[tuple[Any, ...]] = []
    async with github_with_auth(authserver, double, events) as url:
        alice = await get_me(url, user_tokens["alice"])
        bob = await get_me(url, user_tokens["bob"])
    assert not alice.get("isError") and alice["structuredContent"]["login"] == "alice"
    assert not bob.get("isError") and bob["structuredContent"]["login"] == "bob"
    seen = [r.headers.get("Authorization") for r in double.requests if r.path == "/user"]
    assert seen == [f"Bearer {ALICE_PAT}", f"Bearer {BOB_PAT}"]
    assert [(tool, who, kind) for tool, who, kind, _ in events] == [
        ("get_me", "alice", "user"),
        ("get_me", "bob", "user"),
    ]


async def test_no_own_token_no_shared_fallback_by_default(
    authserver: AuthServer, double: TwoUserDouble, user_tokens: dict[str, str]
) -> None:
    events: list[tuple[Any, ...]] = []
    async with github_with_auth(authserver, double, events) as url:
        result = await get_me(url, user_tokens["nobody"])
    assert result.get("isError") is True
    text = result["content"][0]["text"]
    assert "No GitHub credentials for mcpmesh-dev" in text
    assert "mcpmesh secrets set github token --for mcpmesh-dev" in text
    assert double.requests == []  # nothing reached GitHub
    assert [(who, kind) for _, who, kind, _ in events] == [("mcpmesh-dev", None)]


async def test_the_operator_may_allow_the_shared_credential(
    authserver: AuthServer,
    double: TwoUserDouble,
    user_tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCPMESH_GITHUB_SHARED_CREDENTIALS", "true")
    events: list[tuple[Any, ...]] = []
    async with github_with_auth(authserver, double, events) as url:
        shared = await get_me(url, user_tokens["nobody"])
        own = await get_me(url, user_tokens["alice"])
    assert shared["structuredContent"]["login"] == "octocat"
    assert own["structuredContent"]["login"] == "alice"  # an own token still comes first
    seen = [r.headers.get("Authorization") for r in double.requests if r.path == "/user"]
    assert seen == [f"Bearer {GitHubDouble.PAT}", f"Bearer {ALICE_PAT}"]
    assert [(who, kind) for _, who, kind, _ in events] == [
        ("mcpmesh-dev", "shared"),
        ("alice", "user"),
    ]


async def test_refused_calls_reach_nothing_upstream(
    authserver: AuthServer, double: TwoUserDouble, user_tokens: dict[str, str]
) -> None:
    """No token, a bad token, a token for another resource, another principal on a
    session: refused over HTTP, and the GitHub double sees no request."""
    events: list[tuple[Any, ...]] = []
    slack = await client_credentials_token(authserver, SLACK, ["slack:read"])
    async with github_with_auth(authserver, double, events) as url, aiohttp.ClientSession() as http:
        for token, status in ((None, 401), ("not-a-token", 401), (slack, 401)):
            response = await Caller(http, url, token).initialize()
            assert response.status == status
        alice = Caller(http, url, user_tokens["alice"])
        assert (await alice.initialize()).status == 200
        bob = Caller(http, url, user_tokens["bob"])
        bob.session_id = alice.session_id
        assert (await bob.call_tool("get_me")).status == 404
        no_scope = Caller(http, url, await client_credentials_token(authserver, GITHUB, []))
        assert (await no_scope.initialize()).status == 200
        response = await no_scope.call_tool("get_me")
        assert response.status == 403
        assert 'scope="github:read"' in response.headers["WWW-Authenticate"]
    assert double.requests == []
    assert events == []
