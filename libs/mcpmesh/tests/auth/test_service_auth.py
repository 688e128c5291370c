"""A service with authentication on, built by the composition root from ``AuthSettings``,
against the real authorization server, over real HTTP: the RFC 9728 metadata, every
refusal with its status and challenge (and the tool never runs), scopes on calls and on
``tools/list``, sessions bound to their principal, DPoP, and the principal's key in the
audit hook."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from aiohttp import web
from joserfc import jws
from joserfc.jwk import RSAKey

from mcpmesh import Context, Service
from mcpmesh.app import AUTHENTICATOR_KEY, MCP_PATH, bind_socket, create_app
from mcpmesh.auth import Authenticator, AuthSettings
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.embedded.authserver import AuthServer
from mcpmesh.obs.logging import merge_request
from mcpmesh.server import middleware as entries

from .conftest import (
    GITHUB,
    OPAQUE,
    SLACK,
    authorization_code_token,
    client_credentials_token,
    dpop_proof,
    new_dpop_key,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

JSON_AND_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class Note(msgspec.Struct):
    text: str


def build(ran: list[str]) -> Service:
    """A service named ``github`` (the AS knows its scopes) whose tools note each run."""
    service = Service("github", version="0")

    @service.tool(read_only=True)
    async def read_thing(ctx: Context) -> str:
        """Reads."""
        ran.append("read_thing")
        logged_as = merge_request(None, "info", {}).get("principal")  # what a log line gets
        return f"read for {ctx.principal.key if ctx.principal else None}, logged as {logged_as}"

    @service.tool()
    async def write_thing(ctx: Context, args: Note) -> str:
        """Writes."""
        ran.append("write_thing")
        return "written"

    @service.tool(read_only=True, scopes=["github:read", "github:admin"])
    async def admin_thing(ctx: Context) -> str:
        """Needs a scope nobody has."""
        ran.append("admin_thing")
        return "admin"

    @service.resource("test://doc", name="doc")
    async def doc(ctx: Context) -> str:
        ran.append("doc")
        return "the doc"

    return service


@contextlib.asynccontextmanager
async def serving(
    service: Service, auth: AuthSettings, **kwargs: Any
) -> AsyncIterator[tuple[str, web.Application]]:
    app = create_app(
        service,
        auth=auth,
        bus=kwargs.pop("bus", BusSettings()),
        sampling=SamplingSettings(),
        **kwargs,
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    sock = bind_socket("127.0.0.1", 0)
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}{MCP_PATH}", app
    finally:
        await runner.cleanup()


class Caller:
    """Speaks MCP by hand with a token (``Bearer``, or ``DPoP`` with a fresh proof each
    request for the service's canonical URL)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str | None = None) -> None:
        self.http, self.url, self.token = http, url, token
        self.session_id: str | None = None
        self.dpop_key: Any = None
        self.next_id = 0

    def headers(self, method: str = "POST") -> dict[str, str]:
        headers = dict(JSON_AND_SSE)
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.token is not None and self.dpop_key is not None:
            headers["Authorization"] = f"DPoP {self.token}"
            headers["DPoP"] = dpop_proof(self.dpop_key, method, GITHUB, access_token=self.token)
        elif self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def post(self, message: dict[str, Any], **extra: str) -> aiohttp.ClientResponse:
        return await self.http.post(
            self.url, data=json.dumps(message).encode(), headers=self.headers() | extra
        )

    async def initialize(self) -> aiohttp.ClientResponse:
        response = await self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "auth-test", "version": "1"},
                },
            }
        )
        if response.status == 200:
            self.session_id = response.headers["Mcp-Session-Id"]
            await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return response

    async def request(
        self, method: str, params: dict[str, Any] | None = None
    ) -> aiohttp.ClientResponse:
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        return await self.post(message)

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None
    ) -> aiohttp.ClientResponse:
        return await self.request("tools/call", {"name": name, "arguments": arguments or {}})


def challenge(response: aiohttp.ClientResponse) -> str:
    return response.headers.get("WWW-Authenticate", "")


@pytest.fixture
def ran() -> list[str]:
    return []


@pytest_asyncio.fixture(loop_scope="module")
async def service_url(authserver: AuthServer, ran: list[str]) -> AsyncIterator[str]:
    auth = AuthSettings(issuers=[authserver.issuer], resource=GITHUB)
    async with serving(build(ran), auth) as (url, _app):
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tokens(authserver: AuthServer) -> dict[str, str]:
    """Real tokens from the authorization code flow (two users) and client credentials."""
    alice = await authorization_code_token(authserver, GITHUB, ["github:read", "github:write"])
    bob = await authorization_code_token(authserver, GITHUB, ["github:read"], user="bob")
    return {
        "alice": alice["access_token"],
        "bob": bob["access_token"],
        "read_only": await client_credentials_token(authserver, GITHUB, ["github:read"]),
        "slack": await client_credentials_token(authserver, SLACK, ["slack:read"]),
    }


# ------------------------------------------------------------ metadata and 401s


async def test_protected_resource_metadata_at_both_well_known_paths(
    authserver: AuthServer, service_url: str
) -> None:
    base = service_url.removesuffix(MCP_PATH)
    async with aiohttp.ClientSession() as http:
        for path in (
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ):
            async with http.get(base + path) as response:
                assert response.status == 200, path
                document = await response.json()
            assert document["resource"] == GITHUB
            assert document["authorization_servers"] == [authserver.issuer]
            assert {"github:read", "github:write", "github:admin"} <= set(
                document["scopes_supported"]
            )
            assert document["bearer_methods_supported"] == ["header"]


async def test_no_token_is_401_with_the_metadata_and_scopes(
    service_url: str, ran: list[str]
) -> None:
    async with aiohttp.ClientSession() as http:
        caller = Caller(http, service_url)
        response = await caller.initialize()
        assert response.status == 401
        value = challenge(response)
        assert value.startswith("Bearer ")
        assert (
            'resource_metadata="http://127.0.0.1:8101/.well-known/oauth-protected-resource/mcp"'
            in value
        )
        assert 'scope="github:admin github:read github:write"' in value
        assert "error=" not in value  # no credentials: no error code (RFC 6750 §3.1)
        bogus = Caller(http, service_url, "totally-invalid")
        response = await bogus.initialize()
        assert response.status == 401 and 'error="invalid_token"' in challenge(response)
    assert ran == []


def _forged(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(claims)}.{signature}"


def _claims(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


async def test_bad_tokens_are_401_invalid_token_and_nothing_runs(
    authserver: AuthServer,
    other_authserver: AuthServer,
    service_url: str,
    tokens: dict[str, str],
    ran: list[str],
) -> None:
    real = tokens["alice"]
    claims = _claims(real)
    stranger_key = RSAKey.generate_key(2048, parameters={"kid": "not-in-the-jwks"})
    bad = {
        "wrong audience": tokens["slack"],
        "wrong issuer": await client_credentials_token(other_authserver, GITHUB, ["github:read"]),
        "alg none": _forged({"alg": "none", "typ": "at+jwt"}, claims),
        "unknown kid": jws.serialize_compact(
            {"alg": "RS256", "typ": "at+jwt", "kid": "not-in-the-jwks"},
            json.dumps(claims),
            stranger_key,
        ),
        "tampered": real.rsplit(".", 2)[0]
        + "."
        + _forged({}, {**claims, "scope": "github:admin"}).split(".")[1]
        + "."
        + real.rsplit(".", 1)[1],
    }
    async with aiohttp.ClientSession() as http:
        owner = Caller(http, service_url, real)
        assert (await owner.initialize()).status == 200
        for what, token in bad.items():
            response = await Caller(http, service_url, token).initialize()
            assert response.status == 401, what
            assert 'error="invalid_token"' in challenge(response), what
            # the same token on a live session's tool call: refused before the session
            thief = Caller(http, service_url, token)
            thief.session_id = owner.session_id
            response = await thief.call_tool("read_thing")
            assert response.status == 401, what
    assert ran == []


async def test_expired_token_and_key_rotation(as_workdir: Path, ran: list[str]) -> None:
    """A token past ``exp`` is refused; after the AS rotates its signing key, a token with
    the new ``kid`` is accepted once the JWKS is fetched again (the old one still is)."""
    server = await _short_lived(as_workdir)
    try:
        auth = AuthSettings(
            issuers=[server.issuer], resource=GITHUB, leeway=0.0, jwks_min_refresh_interval=0.0
        )
        async with serving(build(ran), auth) as (url, app), aiohttp.ClientSession() as http:
            before = await client_credentials_token(server, GITHUB, ["github:read"])
            caller = Caller(http, url, before)
            assert (await caller.initialize()).status == 200
            await server.rotate_keys()
            await server.restart()
            after = await client_credentials_token(server, GITHUB, ["github:read"])
            assert _header(after)["kid"] != _header(before)["kid"]
            fresh = Caller(http, url, after)
            assert (await fresh.initialize()).status == 200
            assert (await fresh.call_tool("read_thing")).status == 200
            jwks = app[AUTHENTICATOR_KEY].validator(server.issuer).jwks  # type: ignore[union-attr]
            assert jwks.fetches == 2  # at start, and on the unknown kid
            ran.clear()
            expires = _claims(before)["exp"]
            await _until(lambda: time.time() > expires + 0.5)
            response = await caller.call_tool("read_thing")
            assert response.status == 401
            assert 'error="invalid_token"' in challenge(response)
            assert "expired" in (await response.json())["error"]["message"]
            assert ran == []
    finally:
        await server.stop()


async def _short_lived(as_workdir: Path) -> AuthServer:
    from mcpmesh.embedded.authserver import start_authserver

    from .conftest import RESOURCES, _installed

    _installed()
    return await start_authserver(
        as_workdir / "short", RESOURCES, dev_users=("alice",), token_ttl=3
    )


def _header(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


async def _until(condition: Any, timeout: float = 10.0) -> None:
    """Wait for a condition (a clock passing a point), checking often; never a fixed sleep."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# ------------------------------------------------------------ scopes


async def test_missing_scope_is_403_naming_every_scope_the_tool_needs(
    service_url: str, tokens: dict[str, str], ran: list[str]
) -> None:
    async with aiohttp.ClientSession() as http:
        reader = Caller(http, service_url, tokens["bob"])  # github:read only
        assert (await reader.initialize()).status == 200
        response = await reader.call_tool("write_thing", {"text": "x"})
        assert response.status == 403
        value = challenge(response)
        assert 'error="insufficient_scope"' in value and 'scope="github:write"' in value
        assert "resource_metadata=" in value
        writer = Caller(http, service_url, tokens["alice"])  # read + write, not admin
        assert (await writer.initialize()).status == 200
        response = await writer.call_tool("admin_thing")
        assert response.status == 403
        assert 'scope="github:admin github:read"' in challenge(response)  # all it needs
        assert ran == []
        response = await writer.call_tool("write_thing", {"text": "x"})
        assert response.status == 200
        assert not (await response.json())["result"].get("isError", False)
        assert ran == ["write_thing"]


async def test_tools_list_shows_only_what_the_token_allows(
    authserver: AuthServer, service_url: str, tokens: dict[str, str], ran: list[str]
) -> None:
    async def names(url: str, token: str) -> list[str]:
        async with aiohttp.ClientSession() as http:
            caller = Caller(http, url, token)
            assert (await caller.initialize()).status == 200
            response = await caller.request("tools/list")
            return sorted(t["name"] for t in (await response.json())["result"]["tools"])

    assert await names(service_url, tokens["bob"]) == ["read_thing"]
    assert await names(service_url, tokens["alice"]) == ["read_thing", "write_thing"]
    auth = AuthSettings(issuers=[authserver.issuer], resource=GITHUB, list_all_tools=True)
    async with serving(build(ran), auth) as (url, _app):
        assert await names(url, tokens["bob"]) == ["admin_thing", "read_thing", "write_thing"]


async def test_resources_need_the_read_scope(
    authserver: AuthServer, service_url: str, tokens: dict[str, str], ran: list[str]
) -> None:
    async with aiohttp.ClientSession() as http:
        caller = Caller(http, service_url, tokens["bob"])
        assert (await caller.initialize()).status == 200
        response = await caller.request("resources/read", {"uri": "test://doc"})
        assert response.status == 200 and ran == ["doc"]
    ran.clear()
    # a token of this resource without the read scope (client credentials, scope-less)
    token = await client_credentials_token(authserver, GITHUB, [])
    async with aiohttp.ClientSession() as http:
        caller = Caller(http, service_url, token)
        assert (await caller.initialize()).status == 200
        response = await caller.request("resources/read", {"uri": "test://doc"})
        assert response.status == 403 and 'scope="github:read"' in challenge(response)
    assert ran == []


# ------------------------------------------------------------ sessions bound to principals


async def test_another_principal_on_a_bound_session_is_404(
    service_url: str, tokens: dict[str, str], ran: list[str]
) -> None:
    async with aiohttp.ClientSession() as http:
        alice = Caller(http, service_url, tokens["alice"])
        assert (await alice.initialize()).status == 200
        bob = Caller(http, service_url, tokens["bob"])
        bob.session_id = alice.session_id
        response = await bob.call_tool("read_thing")
        assert response.status == 404
        assert "Session not found" in (await response.json())["error"]["message"]
        for method in ("GET", "DELETE"):
            async with http.request(method, service_url, headers=bob.headers(method)) as answer:
                assert answer.status == 404, method
        assert ran == []
        response = await alice.call_tool("read_thing")  # the session is still alice's
        assert response.status == 200 and ran == ["read_thing"]


# ------------------------------------------------------------ DPoP


async def test_dpop_missing_replayed_and_wrong_url(
    authserver: AuthServer, service_url: str, ran: list[str]
) -> None:
    key = new_dpop_key()
    token = await client_credentials_token(authserver, GITHUB, ["github:read"], dpop_key=key)
    assert _claims(token)["cnf"]["jkt"] == key.thumbprint()
    async with aiohttp.ClientSession() as http:
        caller = Caller(http, service_url, token)
        caller.dpop_key = key
        assert (await caller.initialize()).status == 200
        # missing: the bound token as Bearer, or as DPoP without a proof
        as_bearer = {"Authorization": f"Bearer {token}", "DPoP": ""}
        for headers in (as_bearer, {"Authorization": f"DPoP {token}"}):
            call = {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "read_thing"},
            }
            sent = JSON_AND_SSE | {"Mcp-Session-Id": caller.session_id or ""} | headers
            if not sent.get("DPoP"):
                sent.pop("DPoP", None)
            async with http.post(service_url, data=json.dumps(call), headers=sent) as response:
                assert response.status == 401
                assert "DPoP " in challenge(response) and "error=" in challenge(response)
        # replayed: the same proof twice
        proof = dpop_proof(key, "POST", GITHUB, access_token=token)
        call = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "read_thing"}}
        sent = JSON_AND_SSE | {
            "Mcp-Session-Id": caller.session_id or "",
            "Authorization": f"DPoP {token}",
            "DPoP": proof,
        }
        async with http.post(service_url, data=json.dumps(call), headers=sent) as response:
            assert response.status == 200
        assert ran == ["read_thing"]
        call["id"] = 9
        async with http.post(service_url, data=json.dumps(call), headers=sent) as response:
            assert response.status == 401
            assert 'error="invalid_dpop_proof"' in challenge(response)
        # wrong URL: a proof for another resource
        sent["DPoP"] = dpop_proof(key, "POST", SLACK, access_token=token)
        call["id"] = 10
        async with http.post(service_url, data=json.dumps(call), headers=sent) as response:
            assert response.status == 401
            assert 'error="invalid_dpop_proof"' in challenge(response)
    assert ran == ["read_thing"]


# ------------------------------------------------------------ the principal downstream


async def test_the_principal_key_reaches_the_tool_and_the_audit(
    authserver: AuthServer, tokens: dict[str, str], ran: list[str]
) -> None:
    events: list[tuple[str | None, str | None, str | None]] = []

    def hook(
        kind: str,
        tool: str | None,
        session: Any,
        arguments: Any,
        outcome: str,
        seconds: float,
        *,
        principal: str | None = None,
        credential: str | None = None,
    ) -> None:
        events.append((tool, principal, credential))

    auth = AuthSettings(issuers=[authserver.issuer], resource=GITHUB)
    async with (
        serving(build(ran), auth, middleware=[entries.audit(hook)]) as (url, _app),
        aiohttp.ClientSession() as http,
    ):
        caller = Caller(http, url, tokens["alice"])
        assert (await caller.initialize()).status == 200
        response = await caller.call_tool("read_thing")
        result = (await response.json())["result"]
        assert result["content"][0]["text"] == "read for alice, logged as alice"
    assert events == [("read_thing", "alice", None)]  # the key, not the binding digest


async def test_opaque_tokens_by_introspection(authserver: AuthServer, tmp_path: Path) -> None:
    """``MCPMESH_AUTH_VALIDATION=introspection``: the app asks the AS (RFC 7662) about an
    opaque token; a made-up one is 401 and the tool never runs."""
    client_id, secret = authserver.dev_client()
    credentials = tmp_path / "introspection-client.json"
    credentials.write_text(json.dumps({"client_id": client_id, "client_secret": secret}))
    auth = AuthSettings(
        issuers=[authserver.issuer],
        resource=OPAQUE,
        validation="introspection",
        introspection_client_file=str(credentials),
    )
    ran: list[str] = []
    service = Service("opaque", version="0")

    @service.tool(read_only=True)
    async def peek(ctx: Context) -> str:
        """Reads."""
        ran.append(ctx.principal.subject if ctx.principal else "")
        return "ok"

    token = await client_credentials_token(authserver, OPAQUE, ["opaque:read"])
    assert token.count(".") != 2  # opaque, not a JWT
    async with serving(service, auth) as (url, _app), aiohttp.ClientSession() as http:
        made_up = Caller(http, url, "made-up-opaque-token")
        response = await made_up.initialize()
        assert response.status == 401 and 'error="invalid_token"' in challenge(response)
        caller = Caller(http, url, token)
        assert (await caller.initialize()).status == 200
        assert (await caller.call_tool("peek")).status == 200
    assert ran == ["mcpmesh-dev"]


async def test_a_handed_in_authenticator_gets_scopes_and_metadata_too(
    authserver: AuthServer, tokens: dict[str, str], ran: list[str]
) -> None:
    """``create_app(authenticator=Authenticator(...))`` (the caller owns its life): the
    scope check and the metadata come with it."""
    auth = AuthSettings(issuers=[authserver.issuer], resource=GITHUB)
    checker = Authenticator(auth, scopes=["github:read", "github:write"])
    async with (
        checker,
        serving(build(ran), AuthSettings(), authenticator=checker) as (url, _app),
        aiohttp.ClientSession() as http,
    ):
        base = url.removesuffix(MCP_PATH)
        async with http.get(base + "/.well-known/oauth-protected-resource") as response:
            assert (await response.json())["resource"] == GITHUB
        reader = Caller(http, url, tokens["bob"])
        assert (await reader.initialize()).status == 200
        assert (await reader.call_tool("write_thing", {"text": "x"})).status == 403
    assert ran == []


# ------------------------------------------------------------ the 2026-07-28 wire


def build_asking(ran: list[str]) -> Service:
    service = Service("github", version="0")

    @service.tool(read_only=True)
    async def confirm_thing(ctx: Context) -> str:
        """Asks before it acts (MRTR on the 2026 wire)."""
        await ctx.confirm("Go?", key="go")
        ran.append("confirm_thing")
        return "done"

    return service


async def test_on_the_2026_wire_the_token_is_checked_and_binds_the_sealed_state(
    authserver: AuthServer, tokens: dict[str, str], ran: list[str]
) -> None:
    from mcpmesh.testing import StatelessClient

    auth = AuthSettings(issuers=[authserver.issuer], resource=GITHUB)
    yes = {"go": {"action": "accept", "content": {"confirm": True}}}
    call = {"name": "confirm_thing", "arguments": {}}
    async with serving(build_asking(ran), auth) as (url, _app), aiohttp.ClientSession() as http:

        def as_(who: str | None) -> StatelessClient:
            headers = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            return StatelessClient(http, url, {"elicitation": {}}, headers=headers)

        anonymous = await as_(None).post("tools/call", call)
        assert anonymous.status == 401 and "resource_metadata=" in challenge(anonymous)
        first = (await as_("alice").call("tools/call", call))["result"]
        assert first["resultType"] == "input_required" and ran == []
        stolen = {**call, "inputResponses": yes, "requestState": first["requestState"]}
        refused = await as_("bob").call("tools/call", stolen)
        assert refused["error"]["code"] == -32602
        assert "another principal" in refused["error"]["message"] and ran == []
        done = (await as_("alice").call("tools/call", stolen))["result"]
        assert done["content"][0]["text"] == "done" and ran == ["confirm_thing"]
