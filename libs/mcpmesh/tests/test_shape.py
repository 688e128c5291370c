"""The library's shape: lifespan state, the middleware chain, capabilities from what is
registered, raw JSON Schema validation, and the authentication seam."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from mcpmesh import Context, Service
from mcpmesh.app import MCP_PATH, bind_socket, create_app
from mcpmesh.auth import AuthError, Principal
from mcpmesh.secrets import DevSecretProvider
from mcpmesh.server.middleware import CallNext
from mcpmesh.testing import JSON_AND_SSE, RawClient, serve_in_background


@dataclass
class State:
    opened: list[str] = field(default_factory=list)
    calls: int = 0


class Word(msgspec.Struct):
    word: str


def stateful_service(events: list[str]) -> Service[State]:
    @asynccontextmanager
    async def lifespan(service: Service[State]) -> AsyncIterator[State]:
        events.append("open")
        yield State(opened=["pool"])
        events.append("close")

    service = Service("stateful", version="0", lifespan=lifespan)

    @service.tool(read_only=True)
    async def count(ctx: Context[State], args: Word) -> str:
        """Counts calls in the lifespan's state."""
        ctx.state.calls += 1
        return f"{args.word} {ctx.state.calls} {ctx.state.opened[0]}"

    @service.readiness("pool")
    async def pool_ready(state: State) -> str | None:
        return None if state.opened else "no pool"

    @service.on_notification("notifications/roots/list_changed")
    async def roots_changed(ctx: Context[State]) -> None:
        events.append(f"roots changed in {ctx.session_id[:0]}{len(ctx.state.opened)}")

    return service


def text(response: dict[str, Any]) -> str:
    return "\n".join(block["text"] for block in response["result"]["content"])


async def test_the_lifespan_state_reaches_handlers_checks_and_notifications() -> None:
    events: list[str] = []
    service = stateful_service(events)
    with pytest.raises(RuntimeError, match="not running"):
        _ = service.state
    async with serve_in_background(service) as running, aiohttp.ClientSession() as http:
        assert events == ["open"]
        raw = RawClient(http, running.url)
        await raw.initialize()
        first = await raw.call("tools/call", {"name": "count", "arguments": {"word": "a"}})
        second = await raw.call("tools/call", {"name": "count", "arguments": {"word": "b"}})
        assert (text(first), text(second)) == ("a 1 pool", "b 2 pool")
        assert running.state.calls == 2
        assert (await http.get(running.base + "/readyz")).status == 200
        notified = await raw.post({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
        assert notified.status == 202
        assert events == ["open", "roots changed in 1"]
    assert events[-1] == "close"


async def test_the_chain_runs_in_order_around_service_code_only() -> None:
    seen: list[str] = []

    def entry(name: str):  # type: ignore[no-untyped-def]
        async def middleware(ctx: Context[Any], call_next: CallNext) -> Any:
            seen.append(f"{name}>{ctx.method}:{ctx.tool}")
            result = await call_next(ctx)
            seen.append(f"<{name}")
            return result

        return middleware

    service = stateful_service([])
    app = create_app(service, middleware=[entry("outer"), entry("inner")])
    async with _served(app) as url, aiohttp.ClientSession() as http:
        raw = RawClient(http, url)
        await raw.initialize()
        await raw.call("ping")
        await raw.call("tools/call", {"name": "count", "arguments": {"word": "x"}})
        await raw.call("tools/list")
    assert seen == [
        "outer>tools/call:count",
        "inner>tools/call:count",
        "<inner",
        "<outer",
        "outer>tools/list:None",
        "inner>tools/list:None",
        "<inner",
        "<outer",
    ]


async def test_capabilities_follow_what_is_registered() -> None:
    bare = Service("bare", version="0")

    @bare.tool(read_only=True)
    async def only(ctx: Context) -> str:
        return "only"

    async with serve_in_background(bare) as running, aiohttp.ClientSession() as http:
        capabilities = (await RawClient(http, running.url).initialize())["capabilities"]
    assert set(capabilities) == {"tools", "logging"}


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}


async def test_a_raw_json_schema_is_enforced() -> None:
    service = Service("schema", version="0")
    received: list[dict[str, Any]] = []

    @service.tool(read_only=True, input_schema=SCHEMA)
    async def greet(ctx: Context, args: dict[str, Any]) -> str:
        received.append(args)
        return f"hello {args['name']}"

    async with serve_in_background(service) as running, aiohttp.ClientSession() as http:
        raw = RawClient(http, running.url)
        await raw.initialize()
        bad = await raw.call(
            "tools/call", {"name": "greet", "arguments": {"name": 5, "extra": [1]}}
        )
        missing = await raw.call("tools/call", {"name": "greet"})
        good = await raw.call("tools/call", {"name": "greet", "arguments": {"name": "Ada"}})
    assert bad["result"]["isError"] is True
    assert "Invalid arguments for tool greet" in text(bad)
    assert '5 is not of type "string"' in text(bad) or "extra" in text(bad)
    assert missing["result"]["isError"] is True and "name" in text(missing)
    assert text(good) == "hello Ada" and received == [{"name": "Ada"}]


def test_an_invalid_raw_schema_is_refused_at_registration() -> None:
    service = Service("schema", version="0")
    with pytest.raises(TypeError, match="invalid input_schema"):

        @service.tool(input_schema={"type": "no-such-type"})
        async def broken(ctx: Context, args: dict[str, Any]) -> str:
            return ""


async def test_the_authenticator_runs_first_and_its_principal_reaches_the_context() -> None:
    alice = Principal(issuer="https://issuer.test", subject="alice")

    async def authenticate(request: web.Request) -> Principal | None:
        if request.headers.get("Authorization") != "Bearer good":
            raise AuthError(401, "a valid token is required", 'Bearer error="invalid_token"')
        return alice

    service = Service(
        "authn", version="0", secrets=DevSecretProvider({"principals/alice/token": "t-a"})
    )

    @service.tool(read_only=True)
    async def whoami(ctx: Context) -> str:
        assert ctx.principal is not None
        token = await ctx.secrets.get("token", principal=ctx.principal)
        return f"{ctx.principal.key} {len(token)}"

    app = create_app(service, authenticator=authenticate)
    async with _served(app) as url, aiohttp.ClientSession() as http:
        refused = await http.post(url, data=b"{}", headers=JSON_AND_SSE)
        assert refused.status == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        raw = RawClient(http, url)
        raw.headers = lambda **extra: {  # type: ignore[method-assign]
            **JSON_AND_SSE,
            "Authorization": "Bearer good",
            **({"Mcp-Session-Id": raw.session_id} if raw.session_id else {}),
            **extra,
        }
        await raw.initialize()
        answer = await raw.call("tools/call", {"name": "whoami"})
    assert text(answer) == "alice 3"


@asynccontextmanager
async def _served(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    sock = bind_socket("127.0.0.1", 0)
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://localhost:{sock.getsockname()[1]}{MCP_PATH}"
    finally:
        await runner.cleanup()


class RecordingSecrets(DevSecretProvider):
    def __init__(self, events: list[str]) -> None:
        super().__init__({})
        self.events = events

    async def close(self) -> None:
        self.events.append("secrets closed")
        await super().close()


async def test_secrets_close_after_the_lifespan_even_when_it_fails_to_close() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(service: Service[None]) -> AsyncIterator[None]:
        yield None
        events.append("lifespan closing")
        raise RuntimeError("pool would not close")

    service = Service("closing", version="0", lifespan=lifespan, secrets=RecordingSecrets(events))
    async with serve_in_background(service):
        assert events == []
    assert events == ["lifespan closing", "secrets closed"]
