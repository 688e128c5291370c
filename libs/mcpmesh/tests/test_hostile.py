"""A hostile-input suite against a real server process (``mcpmesh serve fixture``).

Over a hundred requests an attacker or a broken client would send — framing, encodings,
nesting, sizes, ids, headers, sessions, resumption, concurrency, slow clients — each
sent as exact bytes on a real socket. Every one must get a spec error (a 4xx status, or
a JSON-RPC error), never a 5xx or a hang; after each, a good request on a good session
is still served; and the process's resident memory stays bounded across the whole burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcpmesh.embedded.process import free_port, port_open
from mcpmesh.testing import eventually

MAX_BODY = 64 * 1024
MAX_SESSIONS = 40
HEADERS_OK = "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    port: int
    pid: int
    session: str = ""

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match, status
        return int(match.group(1))


async def _read_answer(reader: asyncio.StreamReader, until_message: bool = True) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("content-type", "").startswith("text/event-stream"):
        body = b""
        body = await reader.readuntil(b"\n\n")
        while until_message and b'data: {"' not in body:  # up to the first message
            body += await reader.readuntil(b"\n\n")
    elif headers.get("transfer-encoding") == "chunked":
        size = int((await reader.readline()).strip(), 16)
        body = await reader.readexactly(size) if size else b""
    else:
        body = b""
    return Answer(status, headers, body)


async def send(
    server: Server, data: bytes, timeout: float = 10.0, until_message: bool = True
) -> Answer | None:
    """Send raw bytes on a fresh connection; the answer, or None if the server only
    closed the connection (a refusal at the HTTP framing layer without a response)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(timeout):
            try:
                return await _read_answer(reader, until_message)
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    return None
                raise
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def post(
    body: bytes | str | Any,
    *,
    session: str | None = None,
    headers: str = HEADERS_OK,
    extra: str = "",
) -> bytes:
    if isinstance(body, str):
        data = body.encode()
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode()
    session_line = f"Mcp-Session-Id: {session}\r\n" if session else ""
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: localhost\r\n{headers}{session_line}{extra}"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + data


def get(session: str | None, extra: str = "") -> bytes:
    session_line = f"Mcp-Session-Id: {session}\r\n" if session else ""
    return (
        f"GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
        f"{session_line}{extra}Connection: close\r\n\r\n"
    ).encode()


def rpc(method: str, params: Any = None, id_: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


INIT = rpc(
    "initialize",
    {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "hostile", "version": "1"},
    },
    0,
)


async def new_session(server: Server) -> str:
    answer = await send(server, post(INIT))
    assert answer is not None and answer.status == 200, answer
    session = answer.headers["mcp-session-id"]
    done = await send(
        server, post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session=session)
    )
    assert done is not None and done.status == 202
    return session


def assert_spec_error(answer: Answer | None, case: str) -> None:
    """A 4xx, or a 200 carrying a JSON-RPC error; a bare close is a framing refusal."""
    if answer is None:
        return
    assert answer.status < 500, f"{case}: HTTP {answer.status} {answer.body[:300]!r}"
    if answer.status == 200:
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            messages = [
                json.loads(line[5:])
                for line in answer.body.decode().splitlines()
                if line.startswith("data:") and line[5:].strip()
            ]
            if not messages:  # a GET stream's priming event: a stream, as asked
                assert b"id: " in answer.body, f"{case}: {answer.body[:200]!r}"
                return
            payload = messages[0]
        else:
            payload = answer.json()
        assert payload.get("jsonrpc") == "2.0", f"{case}: {payload}"
    elif answer.body and answer.headers.get("content-type", "").startswith("application/json"):
        payload = answer.json()
        assert payload["jsonrpc"] == "2.0" and "error" in payload, f"{case}: {payload}"


async def still_serving(server: Server) -> None:
    answer = await send(server, post(rpc("ping", id_=424242), session=server.session))
    assert answer is not None and answer.status == 200, answer
    assert answer.json() == {"jsonrpc": "2.0", "id": 424242, "result": {}}


SERVER = """
import os, sys
from mcpmesh.cli import main
sys.exit(main(["serve", "fixture"]))
"""


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Any:
    loop = asyncio.new_event_loop()
    log = (tmp_path_factory.mktemp("hostile") / "server.log").open("wb")
    port = free_port()
    env = {
        **os.environ,
        "MCPMESH_PORT": str(port),
        "MCPMESH_MAX_BODY_BYTES": str(MAX_BODY),
        "MCPMESH_MAX_SESSIONS": str(MAX_SESSIONS),
        "MCPMESH_IDLE_TIMEOUT": "1",
        "MCPMESH_BODY_TIMEOUT": "1",
        "MCPMESH_MAX_CONNECTIONS": "200",
        "MCPMESH_CLIENT_REQUEST_TIMEOUT": "2",
        "MCPMESH_LOG_LEVEL": "warning",
    }
    env.pop("MCPMESH_NATS_URL", None)

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SERVER,
            env=env,
            stdout=log,
            stderr=log,
        )
        await eventually(lambda: port_open("127.0.0.1", port), timeout=20, message="no server")
        return process

    process = loop.run_until_complete(start())
    yield loop, Server(port=port, pid=process.pid)
    process.terminate()
    loop.run_until_complete(asyncio.wait_for(process.wait(), 15))
    loop.close()
    log.close()
    text = Path(log.name).read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


# ---------------------------------------------------------------- the cases

Case = Callable[[Server], Awaitable[list[Answer | None]]]
CASES: dict[str, Case] = {}


def raw_case(name: str, make: Callable[[Server], bytes], *, until_message: bool = True) -> None:
    async def run(server: Server) -> list[Answer | None]:
        return [await send(server, make(server), until_message=until_message)]

    CASES[name] = run


def body_case(name: str, body: bytes | str | Any, *, with_session: bool = True, **kw: Any) -> None:
    raw_case(name, lambda s: post(body, session=s.session if with_session else None, **kw))


# Framing
for label, body in {
    "empty": b"",
    "null": b"null",
    "true": b"true",
    "empty-array": b"[]",
    "empty-object": b"{}",
    "string": b'"ping"',
    "number": b"1e999",
    "truncated": b'{"jsonrpc":"2.0","id":1,"method":"pi',
    "trailing-garbage": b'{"jsonrpc":"2.0","id":1,"method":"ping"}xyz',
    "two-objects": b'{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0"}',
    "nul-bytes": b'{"jsonrpc":"2.0",\x00"id":1}',
    "comment": b'{"jsonrpc":"2.0", // hi\n"id":1,"method":"ping"}',
    "single-quotes": b"{'jsonrpc':'2.0','id':1,'method':'ping'}",
    "nan": b'{"jsonrpc":"2.0","id":NaN,"method":"ping"}',
    "infinity": b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":Infinity}}',
    "control-char-in-string": b'{"jsonrpc":"2.0","id":1,"method":"pi\x01ng"}',
    "lone-surrogate": b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}',
    "bad-escape": b'{"jsonrpc":"2.0","id":1,"method":"\\q"}',
    "duplicate-keys": b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
    "batch": b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
    "whitespace-only": b" \n\t " * 1000,
    "params-array": b'{"jsonrpc":"2.0","id":1,"method":"ping","params":[1,2]}',
    "params-string": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}',
    "method-number": b'{"jsonrpc":"2.0","id":1,"method":5}',
    "jsonrpc-number": b'{"jsonrpc":2.0,"id":1,"method":"ping"}',
    "result-and-error": b'{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}',
    "error-bad-shape": b'{"jsonrpc":"2.0","id":1,"error":"x"}',
}.items():
    body_case(f"framing-{label}", body)

raw_case(
    "framing-bad-chunk-size",
    lambda s: (
        f"POST /mcp HTTP/1.1\r\nHost: localhost\r\n{HEADERS_OK}Mcp-Session-Id: {s.session}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    ).encode(),
)
raw_case(
    "framing-cl-and-te",
    lambda s: (
        f"POST /mcp HTTP/1.1\r\nHost: localhost\r\n{HEADERS_OK}Content-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    ).encode(),
)
for label, value in {"negative": "-1", "text": "ten", "huge": str(10**30), "two": "5, 6"}.items():
    raw_case(
        f"framing-content-length-{label}",
        lambda s, v=value: (
            f"POST /mcp HTTP/1.1\r\nHost: localhost\r\n{HEADERS_OK}Content-Length: {v}\r\n"
            "Connection: close\r\n\r\n{}"
        ).encode(),
    )
raw_case("framing-http2-preface", lambda s: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
raw_case("framing-http09", lambda s: b"GET /mcp\r\n\r\n")
raw_case(
    "framing-garbage-request-line", lambda s: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 8
)
raw_case(
    "framing-lowercase-method",
    lambda s: post(rpc("ping"), session=s.session).replace(b"POST", b"post", 1),
)
raw_case("framing-put", lambda s: post(rpc("ping"), session=s.session).replace(b"POST", b"PUT", 1))
raw_case(
    "framing-patch", lambda s: post(rpc("ping"), session=s.session).replace(b"POST", b"PATCH", 1)
)
raw_case(
    "framing-other-path",
    lambda s: post(rpc("ping"), session=s.session).replace(b"/mcp", b"/mcp/../etc", 1),
)

# Encodings
ping = json.dumps(rpc("ping")).encode()
for label, body in {
    "invalid-utf8-start": b"\xff" + ping,
    "invalid-utf8-in-string": ping.replace(b"ping", b"p\xc3\x28ng"),
    "overlong-utf8": ping.replace(b"ping", b"p\xc0\xafng"),
    "utf8-surrogate-bytes": ping.replace(b"ping", b"p\xed\xa0\x80ng"),
    "truncated-utf8": ping.replace(b"ping", b"p\xe2\x82"),
    "utf8-bom": b"\xef\xbb\xbf" + ping,
    "utf16-le-bom": b"\xff\xfe" + ping.decode().encode("utf-16-le"),
    "utf16-be-bom": b"\xfe\xff" + ping.decode().encode("utf-16-be"),
    "utf16-no-bom": ping.decode().encode("utf-16-le"),
    "utf32": ping.decode().encode("utf-32"),
    "latin1-in-string": ping.replace(b"ping", b"p\xe9ng"),
}.items():
    body_case(f"encoding-{label}", body)
body_case(
    "encoding-charset-utf16-header",
    ping.decode().encode("utf-16"),
    headers="Content-Type: application/json; charset=utf-16\r\n"
    "Accept: application/json, text/event-stream\r\n",
)

# Nesting
for depth in (65, 500, 5_000, 30_000):
    nested = "[" * depth + "]" * depth
    body_case(
        f"nesting-params-{depth}",
        f'{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{nested}}}}}',
    )
    body_case(
        f"nesting-arguments-{depth}",
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":'
        f'{{"name":"test_simple_text","arguments":{{"x":{nested}}}}}}}',
    )
body_case(
    "nesting-objects-5000",
    '{"jsonrpc":"2.0","id":1,"method":"ping","params":' + '{"a":' * 5000 + "1" + "}" * 5001,
)
body_case("nesting-in-id", '{"jsonrpc":"2.0","id":' + "[" * 2000 + "]" * 2000 + ',"method":"ping"}')

# Sizes
body_case("size-over-body-limit", rpc("ping", {"x": "a" * MAX_BODY}))
body_case("size-long-method", rpc("m" * 60_000))
body_case("size-many-keys", rpc("ping", {f"k{i}": i for i in range(4_000)}))
body_case(
    "size-huge-capabilities",
    {**INIT, "params": {**INIT["params"], "capabilities": {"experimental": {"x": "y" * 60_000}}}},
    with_session=False,
)
body_case(
    "size-huge-client-info",
    {**INIT, "params": {**INIT["params"], "clientInfo": {"name": "n" * 60_000, "version": "1"}}},
    with_session=False,
)
body_case("size-long-header", rpc("ping"), extra=f"X-Junk: {'j' * 20_000}\r\n")
body_case("size-many-headers", rpc("ping"), extra="".join(f"X-H{i}: v\r\n" for i in range(300)))
body_case("size-long-url", b"{}", headers=HEADERS_OK + f"X-Path: {'p' * 9000}\r\n")

# Ids
for label, id_ in {
    "huge-int": 2**64,
    "huge-negative": -(2**70),
    "float": 1.5,
    "float-integral": 1.0,
    "exponent": 1e308,
    "true": True,
    "null": None,
    "object": {"a": 1},
    "array": [1],
    "long-string": "i" * 50_000,
    "empty-string": "",
}.items():
    body_case(f"id-{label}", rpc("ping", id_=id_))
body_case("id-response-unknown", {"jsonrpc": "2.0", "id": "nobody-asked", "result": {}})
body_case("id-response-huge", {"jsonrpc": "2.0", "id": 2**80, "result": {}})

# Headers
for label, value in {
    "future": "2099-01-01",
    "empty": "",
    "garbage": "x" * 1000,
    "non-ascii": "2025-11-25\u00e9",
}.items():
    raw_case(
        f"header-protocol-version-{label}",
        lambda s, v=value: post(
            rpc("ping"), session=s.session, extra=f"MCP-Protocol-Version: {v}\r\n"
        ),
    )
body_case(
    "header-duplicate-protocol-version",
    rpc("ping"),
    extra="MCP-Protocol-Version: 2025-11-25\r\nMCP-Protocol-Version: 1999-01-01\r\n",
)
body_case("header-duplicate-content-type", rpc("ping"), extra="Content-Type: text/plain\r\n")
body_case("header-no-accept", rpc("ping"), headers="Content-Type: application/json\r\n")
body_case(
    "header-accept-json-only",
    rpc("ping"),
    headers="Content-Type: application/json\r\nAccept: application/json\r\n",
)
body_case(
    "header-content-type-text",
    rpc("ping"),
    headers="Content-Type: text/plain\r\nAccept: application/json, text/event-stream\r\n",
)
body_case(
    "header-content-type-form",
    rpc("ping"),
    headers="Content-Type: application/x-www-form-urlencoded\r\nAccept: */*\r\n",
)
body_case("header-evil-origin", rpc("ping"), extra="Origin: http://localhost:1@evil.com\r\n")
body_case("header-null-origin", rpc("ping"), extra="Origin: null\r\n")
raw_case(
    "header-evil-host",
    lambda s: post(rpc("ping"), session=s.session).replace(
        b"Host: localhost", b"Host: localhost:1@evil.com"
    ),
)
raw_case(
    "header-ipv6-host-suffix",
    lambda s: post(rpc("ping"), session=s.session).replace(
        b"Host: localhost", b"Host: [::1]evil.com"
    ),
)
raw_case(
    "header-no-host",
    lambda s: post(rpc("ping"), session=s.session).replace(b"Host: localhost\r\n", b""),
)
raw_case(
    "header-space-before-colon",
    lambda s: post(rpc("ping"), session=s.session, extra="X-Bad : v\r\n"),
)
raw_case(
    "header-obs-fold", lambda s: post(rpc("ping"), session=s.session, extra="X-Fold: a\r\n b\r\n")
)
raw_case(
    "header-nul-in-value", lambda s: post(rpc("ping"), session=s.session, extra="X-Nul: a\x00b\r\n")
)
body_case("header-bad-encoding", rpc("ping"), extra="Content-Encoding: gzip\r\n")
body_case("header-expect-continue", rpc("ping"), extra="Expect: 100-continue\r\n")

# Sessions
body_case("session-missing", rpc("ping"), with_session=False)
raw_case("session-unknown", lambda s: post(rpc("ping"), session="A" * 43))
raw_case("session-forged-similar", lambda s: post(rpc("ping"), session=s.session[:-2] + "zz"))
raw_case("session-control-chars", lambda s: post(rpc("ping"), session="abc\x01def"))
raw_case("session-very-long", lambda s: post(rpc("ping"), session="s" * 7000))
raw_case("session-non-ascii", lambda s: post(rpc("ping"), session="séssion"))
raw_case(
    "session-duplicate",
    lambda s: post(rpc("ping"), session=s.session, extra="Mcp-Session-Id: other\r\n"),
)
raw_case(
    "session-delete-without-id",
    lambda s: b"DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
)
raw_case(
    "session-delete-unknown",
    lambda s: (
        b"DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: nope\r\nConnection: close\r\n\r\n"
    ),
)
body_case("session-initialize-twice", INIT)
body_case(
    "session-initialize-notification",
    {"jsonrpc": "2.0", "method": "initialize", "params": {}},
    with_session=False,
)
body_case(
    "session-initialize-bad-version",
    {**INIT, "params": {**INIT["params"], "protocolVersion": 7}},
    with_session=False,
)


async def _deleted_session(server: Server) -> list[Answer | None]:
    session = await new_session(server)
    deleted = await send(
        server,
        f"DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: {session}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert deleted is not None and deleted.status == 204
    after = await send(server, post(rpc("ping"), session=session))
    assert after is not None and after.status == 404
    again = await send(
        server,
        f"DELETE /mcp HTTP/1.1\r\nHost: localhost\r\nMcp-Session-Id: {session}\r\nConnection: close\r\n\r\n".encode(),
    )
    return [deleted, after, again]


async def _evicted_session(server: Server) -> list[Answer | None]:
    oldest = await new_session(server)
    answers: list[Answer | None] = []
    for _ in range(MAX_SESSIONS):
        await new_session(server)
        # Keep the suite's own session the most recently used.
        answers.append(await send(server, post(rpc("ping"), session=server.session)))
    evicted = await send(server, post(rpc("ping"), session=oldest))
    assert evicted is not None and evicted.status == 404, evicted
    return [*answers, evicted]


CASES["session-deleted-then-used"] = _deleted_session
CASES["session-evicted"] = _evicted_session

# Resumption
for label, value in {
    "empty": "",
    "garbage": "garbage",
    "unknown-stream": "p999999.1",
    "negative": "g.-1",
    "huge-seq": "g.99999999999999999999999",
    "long": "p1." + "9" * 5000,
    "no-dot": "p1",
    "many-dots": "p1.2.3.4",
}.items():
    raw_case(
        f"resume-{label}",
        lambda s, v=value: get(s.session, f"Last-Event-ID: {v}\r\n"),
        until_message=False,  # an empty id opens the GET stream: its priming event
    )
raw_case("resume-unknown-session", lambda s: get("B" * 43, "Last-Event-ID: g.1\r\n"))
raw_case("resume-no-session", lambda s: get(None))
raw_case("resume-plain-get-stream", lambda s: get(s.session), until_message=False)
raw_case(
    "resume-wrong-accept",
    lambda s: get(s.session).replace(b"text/event-stream", b"application/json"),
)

# Concurrency
SLOW = rpc("tools/call", {"name": "test_tool_with_logging"}, id_="same")


async def _same_id_twice(server: Server) -> list[Answer | None]:
    """Both in flight at once: one runs, the other is refused (or runs after it)."""
    data = post(SLOW, session=server.session)
    return list(await asyncio.gather(send(server, data), send(server, data)))


async def _many_at_once(server: Server) -> list[Answer | None]:
    return list(
        await asyncio.gather(
            *(send(server, post(rpc("ping", id_=i), session=server.session)) for i in range(60))
        )
    )


async def _cancel_nonsense(server: Server) -> list[Answer | None]:
    return [
        await send(
            server,
            post(
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params},
                session=server.session,
            ),
        )
        for params in ({"requestId": "nobody"}, {"requestId": {"x": 1}}, {}, {"reason": 5})
    ]


CASES["concurrency-same-id-twice"] = _same_id_twice
CASES["concurrency-60-at-once"] = _many_at_once
CASES["concurrency-cancel-nonsense"] = _cancel_nonsense
body_case(
    "concurrency-unknown-notification",
    {"jsonrpc": "2.0", "method": "notifications/whatever", "params": {"x": 1}},
)


# Slow clients
async def _half_headers(server: Server) -> list[Answer | None]:
    return [await send(server, b"POST /mcp HTTP/1.1\r\nHost: local", timeout=10)]


async def _half_body(server: Server) -> list[Answer | None]:
    data = post(rpc("ping"), session=server.session)
    return [await send(server, data[:-5], timeout=10)]


async def _idle(server: Server) -> list[Answer | None]:
    return [await send(server, b"", timeout=10)]


async def _byte_by_byte(server: Server) -> list[Answer | None]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for byte in post(rpc("ping"), session=server.session)[:80]:
            writer.write(bytes([byte]))
            await writer.drain()
        async with asyncio.timeout(10):
            try:
                return [await _read_answer(reader)]
            except asyncio.IncompleteReadError:
                return [None]
    finally:
        writer.close()


CASES["slow-half-headers"] = _half_headers
CASES["slow-half-body"] = _half_body
CASES["slow-idle"] = _idle
CASES["slow-byte-by-byte-then-stall"] = _byte_by_byte


def test_the_suite_has_over_a_hundred_cases() -> None:
    assert len(CASES) >= 100, len(CASES)


@pytest.fixture(scope="module")
def serving(server_process: Any) -> Any:
    loop, server = server_process
    server.session = loop.run_until_complete(new_session(server))
    return loop, server


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_request_gets_a_spec_error_and_the_server_keeps_serving(
    serving: Any, case: str
) -> None:
    loop, server = serving

    async def run() -> None:
        for answer in await CASES[case](server):
            assert_spec_error(answer, case)
        await still_serving(server)

    loop.run_until_complete(run())


def test_rss_stays_bounded_over_a_burst(serving: Any) -> None:
    """Three passes over every case (each still answered to spec): memory after the last
    stays near memory after the first, so nothing a hostile request leaves behind
    accumulates (sessions included: the cap evicts them for good)."""
    loop, server = serving

    async def burst() -> None:
        for name in sorted(CASES):
            for answer in await CASES[name](server):
                assert_spec_error(answer, name)
        await still_serving(server)

    start = server.rss_kib()
    loop.run_until_complete(burst())
    after_first = server.rss_kib()
    for _ in range(2):
        loop.run_until_complete(burst())
    after_third = server.rss_kib()
    print(f"RSS kB: start {start}, after pass 1 {after_first}, after pass 3 {after_third}")
    assert after_third - after_first < 20 * 1024, (start, after_first, after_third)
