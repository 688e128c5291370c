"""Helpers for testing services: serve one in-process on a free loopback port.

    async with serve_in_background(create(settings)) as url:
        async with streamable_http_client(url) as (read, write, _): ...

The service runs on the real aiohttp stack (sockets, HTTP parsing, SSE), exactly as in
production; only the process is shared with the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import aiohttp
import msgspec
import yarl
from aiohttp import web

from mcpmesh.app import ENDPOINT_KEY, MCP_PATH, bind_socket, create_app, start_serving
from mcpmesh.app.observe import Observability
from mcpmesh.server.context import StateT
from mcpmesh.server.service import Service
from mcpmesh.transport.http import McpEndpoint
from mcpmesh.transport.sessions import SessionStore


class RunningService(Generic[StateT]):
    def __init__(self, url: str, app: web.Application, service: Service[StateT]) -> None:
        self.url = url
        self.base = url.removesuffix(MCP_PATH)
        self.app = app
        self.service = service

    @property
    def endpoint(self) -> McpEndpoint:
        return self.app[ENDPOINT_KEY]

    @property
    def state(self) -> StateT:
        """What the service's lifespan yielded (its pools, clients), for assertions."""
        return self.service.state

    def __str__(self) -> str:
        return self.url


@contextlib.asynccontextmanager
async def serve_in_background(
    service: Service[StateT],
    store: SessionStore | None = None,
    *,
    observe: Observability | None = None,
) -> AsyncIterator[RunningService[StateT]]:
    app = create_app(service, store=store, observe=observe)
    sock = bind_socket("127.0.0.1", 0)
    settings = msgspec.structs.replace(service.settings, shutdown_timeout=5.0)
    serving = await start_serving(app, sock, settings)
    port = sock.getsockname()[1]
    try:
        yield RunningService(f"http://localhost:{port}{MCP_PATH}", app, service)
    finally:
        await serving.stop()


JSON_AND_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class RawClient:
    """A bare HTTP client speaking MCP by hand, to send exactly the bytes a test needs."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id: str | None = None
        self.next_id = 0

    def headers(self, **extra: str) -> dict[str, str]:
        headers = dict(JSON_AND_SSE)
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        headers.update(extra)
        return headers

    async def post(self, body: Any, **headers: str) -> aiohttp.ClientResponse:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post(self.url, data=data, headers=self.headers(**headers))

    async def initialize(
        self, capabilities: dict[str, Any] | None = None, version: str = "2025-11-25"
    ) -> dict[str, Any]:
        response = await self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": version,
                    "capabilities": capabilities or {},
                    "clientInfo": {"name": "raw-test-client", "version": "1"},
                },
            }
        )
        assert response.status == 200, await response.text()
        self.session_id = response.headers["Mcp-Session-Id"]
        body = await response.json()
        notified = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert notified.status == 202
        return body["result"]

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A request answered as plain JSON; returns the whole JSON-RPC response."""
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        response = await self.post(message)
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


async def initialize_status(url: str, token: str | None = None) -> int:
    """The HTTP status an ``initialize`` at ``url`` gets with ``token`` as its bearer
    (``None``: no Authorization header): what an auth test asks of a service."""
    extra = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as http:
        response = await RawClient(http, url).post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "script", "version": "1"},
                },
            },
            **extra,
        )
        response.release()
        return response.status


class StatelessClient:
    """A 2026-07-28 client by hand: every request carries ``_meta`` (version, client
    capabilities) and the ``MCP-Protocol-Version``/``Mcp-Method``/``Mcp-Name`` headers."""

    VERSION = "2026-07-28"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        capabilities: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.http = http
        self.url = url
        self.capabilities = capabilities or {}
        self.extra_headers = headers or {}
        self.next_id = 0

    def message(
        self, method: str, params: dict[str, Any] | None = None, **meta: Any
    ) -> dict[str, Any]:
        self.next_id += 1
        params = dict(params or {})
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": self.VERSION,
            "io.modelcontextprotocol/clientCapabilities": self.capabilities,
            "io.modelcontextprotocol/clientInfo": {"name": "stateless-test-client", "version": "1"},
            **meta,
            **params.get("_meta", {}),
        }
        return {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}

    def headers_for(self, message: dict[str, Any], **extra: str) -> dict[str, str]:
        from mcpmesh.protocol.headers import encode_value

        headers = {
            **JSON_AND_SSE,
            "MCP-Protocol-Version": self.VERSION,
            "Mcp-Method": message["method"],
            **self.extra_headers,
        }
        params = message.get("params", {})
        name = params.get("uri" if message["method"] == "resources/read" else "name")
        if isinstance(name, str):
            headers["Mcp-Name"] = encode_value(name)
        headers.update(extra)
        return headers

    async def post(
        self, method: str, params: dict[str, Any] | None = None, **headers: str
    ) -> aiohttp.ClientResponse:
        message = self.message(method, params)
        return await self.http.post(
            self.url,
            data=json.dumps(message).encode(),
            headers=self.headers_for(message, **headers),
        )

    async def call(
        self, method: str, params: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        """The whole JSON-RPC response (the last message of an SSE answer)."""
        response = await self.post(method, params, **headers)
        if response.content_type == "text/event-stream":
            events = [event.json() async for event in read_sse(response)]
            return cast(dict[str, Any], events[-1])
        return cast(dict[str, Any], await response.json())


class SseEvent:
    def __init__(self, event_id: str | None, data: str, retry: int | None) -> None:
        self.id = event_id
        self.data = data
        self.retry = retry

    def json(self) -> Any:
        return json.loads(self.data)

    def __repr__(self) -> str:
        return f"SseEvent(id={self.id!r}, data={self.data[:60]!r}, retry={self.retry})"


async def read_sse(response: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """Parse an SSE response into events (comments skipped), until the server closes it."""
    event_id: str | None = None
    data: list[str] = []
    retry: int | None = None
    seen_field = False
    async for raw_line in response.content:
        line = raw_line.decode().rstrip("\r\n")
        if not line:
            if seen_field:
                yield SseEvent(event_id, "\n".join(data), retry)
            event_id, data, retry, seen_field = None, [], None, False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        seen_field = True
        if name == "id":
            event_id = value
        elif name == "data":
            data.append(value)
        elif name == "retry":
            retry = int(value)


# ---------------------------------------------------------------- waiting on conditions

if TYPE_CHECKING:  # the official SDK is a test dependency, not one of the library's
    from mcp import Client, ClientSession
    from mcp.client.session import (
        ElicitationFnT,
        ListRootsFnT,
        LoggingFnT,
        MessageHandlerFnT,
        SamplingFnT,
    )
    from mcp_types import CallToolResult

_T = TypeVar("_T")
_NOT_YET: Any = object()


async def eventually(
    condition: Callable[[], _T | Awaitable[_T]],
    *,
    timeout: float = 5.0,
    message: str = "the condition never became true",
) -> _T:
    """Wait until ``condition()`` (sync or async) returns a truthy value, and return it.

    An exception from the condition counts as "not yet" (so a condition may assert or
    connect). After ``timeout`` seconds the test fails with ``message``, the last value
    and the last exception: a wait that never succeeds is a failure, not a hang. Polls
    quickly at first, then every 0.1 s, so a shared machine is not kept busy.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = 0.005
    last: Any = _NOT_YET
    error: BaseException | None = None
    while True:
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await asyncio.wait_for(value, max(deadline - loop.time(), 0.01))
            if value:
                return cast("_T", value)
            last, error = value, None
        except Exception as exc:  # an assert or a refused connection: "not yet"
            error = exc
        left = deadline - loop.time()
        if left <= 0:
            seen = "no value" if last is _NOT_YET else f"last value {last!r}"
            if error is not None:
                seen = f"last error {type(error).__name__}: {error}"
            raise AssertionError(f"{message} (within {timeout} s; {seen})") from error
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.1)


class ManualClock:
    """A :class:`mcpmesh.secrets.clock.Clock` that moves only when the test says so.

    Give it to the TTL logic under test (``VaultSecretProvider(..., clock=clock)``) and
    call :meth:`advance` instead of sleeping past a TTL. ``sleep`` on it returns once the
    clock has been advanced past the sleeper's deadline. ``time()`` starts at the real
    UNIX time, so expiry times stay comparable with ``time.time()``.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._wall_start = time.time()
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._wall_start + self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self._now + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    @property
    def deadlines(self) -> list[float]:
        """When the tasks asleep on this clock wake, soonest first: wait for a sleeper to
        be there before advancing past it (``eventually(lambda: clock.deadlines)``)."""
        return sorted(deadline for deadline, future in self._sleepers if not future.done())

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += seconds
        for deadline, future in list(self._sleepers):
            if deadline <= self._now and not future.done():
                future.set_result(None)


# ---------------------------------------------------------------- official SDK client


@contextlib.asynccontextmanager
async def sdk_session(
    url: str,
    *,
    elicitation: ElicitationFnT | None = None,
    sampling: SamplingFnT | None = None,
    roots: ListRootsFnT | None = None,
    logging: LoggingFnT | None = None,
    messages: MessageHandlerFnT | None = None,
    initialize: bool = True,
    auth: Any = None,
) -> AsyncIterator[ClientSession]:
    """An official-SDK (``mcp``) client session to ``url`` over Streamable HTTP.

    Each callback, when given, is the SDK's own (and makes the client declare the
    capability): ``elicitation`` answers ``elicitation/create``, ``sampling``
    ``sampling/createMessage``, ``roots`` ``roots/list``; ``logging`` receives log
    notifications and ``messages`` every other server notification. The session is
    initialized unless ``initialize=False`` (to test the handshake itself). ``auth`` is an
    ``httpx2.Auth`` for every request, e.g. the SDK's ``OAuthClientProvider``.
    """
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    # The SDK's own timeouts (30 s, reads 300 s: a response stream may stay open).
    http = httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=300))
    async with (
        http,
        streamable_http_client(url, http_client=http) as (read, write, *_),
        ClientSession(
            read,
            write,
            elicitation_callback=elicitation,
            sampling_callback=sampling,
            list_roots_callback=roots,
            logging_callback=logging,
            message_handler=messages,
        ) as session,
    ):
        if initialize:
            await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def sdk_client(
    url: str,
    *,
    elicitation: ElicitationFnT | None = None,
    sampling: SamplingFnT | None = None,
    roots: ListRootsFnT | None = None,
) -> AsyncIterator[Client]:
    """An official-SDK ``mcp.Client`` to ``url`` that speaks 2026-07-28: it probes
    ``server/discover`` and adopts the stateless wire (asserted), then answers the
    ``inputRequests`` of MRTR rounds with the given callbacks (each declares its
    capability)."""
    from mcp import Client

    async with Client(
        url,
        elicitation_callback=elicitation,
        sampling_callback=sampling,
        list_roots_callback=roots,
    ) as client:
        assert client.protocol_version == "2026-07-28", client.protocol_version
        yield client


def text_of(result: CallToolResult) -> str:
    """The text blocks of a tool result, one per line (what a model would read)."""
    return "\n".join(block.text for block in result.content if block.type == "text")


# --- the official SDK's OAuth client, driven headlessly ----------------------------------


class _MemoryTokens:
    """The SDK's ``TokenStorage`` in memory: one client's registration and tokens."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"', re.I)
_REDIRECTS = {301, 302, 303, 307, 308}


async def sign_in(authorization_url: str, redirect_uri: str, user: str = "dev") -> str:
    """What a person does in the browser, for ``tools/authserver`` (oidc-provider's
    development login and consent pages): follow the authorization URL, sign in as
    ``user`` (any password), allow access; returns the redirect to ``redirect_uri``
    (carrying ``code``, ``state`` and ``iss``)."""
    jar = aiohttp.CookieJar(unsafe=True)  # the issuer is an IP address
    url, form = authorization_url, None
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        for _ in range(20):
            request = (
                http.post(url, data=form, allow_redirects=False)
                if form
                else http.get(url, allow_redirects=False)
            )
            async with request as response:
                form = None
                if response.status in _REDIRECTS:
                    url = str(response.url.join(yarl.URL(response.headers["Location"])))
                    if url.startswith(redirect_uri):
                        return url
                    continue
                page = await response.text()
                if response.status != 200:
                    raise AssertionError(
                        f"sign-in page {url}: HTTP {response.status}: {page[:300]}"
                    )
                action = _FORM_ACTION.search(page)
                if action is None:
                    raise AssertionError(f"no form on the sign-in page {url}: {page[:300]}")
                url = str(response.url.join(yarl.URL(html.unescape(action.group(1)))))
                if 'name="login"' in page:
                    form = {"prompt": "login", "login": user, "password": "any"}
                else:
                    form = {"prompt": "consent"}
    raise AssertionError("the sign-in did not come back to the redirect URI")


def oauth_client(server_url: str, user: str = "dev") -> Any:
    """The official SDK's ``OAuthClientProvider`` for ``server_url`` (an ``httpx2.Auth``
    for :func:`sdk_session`): it discovers the protected resource metadata and the
    authorization server, registers itself dynamically, runs authorization code + PKCE
    for the service's resource with :func:`sign_in` as the browser, and sends the token."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    redirect_uri = "http://127.0.0.1:9/callback"  # never opened: sign_in stops before it
    landed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def open_browser(authorization_url: str) -> None:
        landed.set_result(await sign_in(authorization_url, redirect_uri, user))

    async def callback() -> AuthorizationCodeResult:
        query = yarl.URL(await landed).query
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )

    metadata = OAuthClientMetadata(
        client_name="mcpmesh test client",
        redirect_uris=[redirect_uri],  # type: ignore[list-item]  # pydantic parses it
        grant_types=["authorization_code"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url,
        metadata,
        _MemoryTokens(),
        redirect_handler=open_browser,
        callback_handler=callback,
    )
