"""Helpers for the filesystem tests: a real directory tree, the service served on loopback,
and the official MCP Python SDK client connected to it."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mcp import ClientSession, types

from mcpmesh import Service
from mcpmesh.config import ServerSettings
from mcpmesh.testing import sdk_client, sdk_session, serve_in_background, text_of
from mcpmesh_filesystem.service import Filesystem, create
from mcpmesh_filesystem.settings import FilesystemSettings

#: A 1x1 PNG and a tiny WAV: real media, so MIME types and base64 can be checked.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/p+0K0wAAAABJRU5ErkJggg=="
)
WAV = (
    b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00D\xac\x00\x00"
    b"\x88X\x01\x00\x02\x00\x10\x00data\x00\x00\x00\x00"
)
SECRET = "TOP SECRET outside the root"


def build_tree(tmp_path: Path) -> Path:
    """An allowed root with text, media, binary and nested files; secrets beside it."""
    base = tmp_path / "root"
    (base / "notes" / "deep").mkdir(parents=True)
    (base / "hello.txt").write_text("hello world\nsecond line\nthird line\n")
    (base / "notes" / "todo.md").write_text("# todo\n- write tests\n- ship it\n")
    (base / "notes" / "deep" / "code.py").write_text("def main():\n    return 42  # answer\n")
    (base / "image.png").write_bytes(PNG)
    (base / "sound.wav").write_bytes(WAV)
    (base / "blob.bin").write_bytes(b"\x00\x01\x02binary\x00data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    # CVE-2025-53110: a sibling whose name starts with the root's name.
    evil = tmp_path / "root-evil"
    evil.mkdir()
    (evil / "secret.txt").write_text(SECRET)
    return base


def make_app(roots: list[Path], **overrides: Any) -> Service[Filesystem]:
    fs = FilesystemSettings(roots=[str(r) for r in roots], **overrides)
    return create(ServerSettings(client_request_timeout=5), fs=fs)


#: How the test user answers a write's confirmation: tick the box (the default), or not.
CONFIRM = types.ElicitResult(action="accept", content={"confirm": True})


@contextlib.asynccontextmanager
async def open_session(
    url: str,
    *,
    client_roots: list[str] | None = None,
    messages: list[Any] | None = None,
    answer: types.ElicitResult | None = CONFIRM,
    questions: list[str] | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialized official-SDK session to ``url``.

    ``client_roots`` (a list the test may change later) makes the client declare the
    roots capability and answer ``roots/list`` from it; ``messages`` collects the
    server's notifications. ``answer`` is the user's reply to every confirmation
    (``None``: the client has no elicitation capability); ``questions`` collects them.
    """

    async def confirm(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        if questions is not None:
            questions.append(params.message)
        assert answer is not None
        return answer

    async def list_roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=uri) for uri in client_roots or []])

    async def on_message(message: Any) -> None:
        if messages is not None:
            messages.append(message)

    async with sdk_session(
        url,
        elicitation=confirm if answer is not None else None,
        roots=list_roots if client_roots is not None else None,
        messages=on_message if messages is not None else None,
    ) as session:
        yield session


@contextlib.asynccontextmanager
async def connect(
    app: Service[Filesystem],
    *,
    client_roots: list[str] | None = None,
    messages: list[Any] | None = None,
    answer: types.ElicitResult | None = CONFIRM,
    questions: list[str] | None = None,
    modern: bool = False,
) -> AsyncIterator[Any]:
    """Serve ``app`` on loopback (the real aiohttp stack) and open one session to it
    (``modern``: the SDK's 2026-07-28 ``Client``, whose roots and confirmations answer
    MRTR rounds). ``answer`` and ``questions`` as for :func:`open_session`."""
    async with serve_in_background(app) as running:
        if not modern:
            async with open_session(
                running.url,
                client_roots=client_roots,
                messages=messages,
                answer=answer,
                questions=questions,
            ) as session:
                yield session
            return

        async def confirm(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            if questions is not None:
                questions.append(params.message)
            assert answer is not None
            return answer

        async def list_roots(context: Any) -> types.ListRootsResult:
            return types.ListRootsResult(roots=[types.Root(uri=u) for u in client_roots or []])

        async with sdk_client(
            running.url,
            elicitation=confirm if answer is not None else None,
            roots=list_roots if client_roots is not None else None,
        ) as client:
            yield client


async def ok(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return result


async def refused(session: ClientSession, tool: str, arguments: dict[str, Any]) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, f"{tool} {arguments} should have failed: {text_of(result)[:200]}"
    message = text_of(result)
    assert SECRET not in message
    assert "Traceback" not in message
    return message
