"""The filesystem service through the official SDK on the 2026-07-28 stateless wire:
the client's roots arrive as an MRTR answer, and still only narrow."""

from __future__ import annotations

from pathlib import Path

from fs_harness import SECRET, connect, make_app, ok, refused
from mcp import types

from mcpmesh.testing import text_of


async def test_reads_on_the_2026_wire(root: Path) -> None:
    async with connect(make_app([root]), modern=True) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"read_text_file", "list_allowed_directories"} <= names
        whole = await ok(client, "read_text_file", {"path": "hello.txt"})
        assert text_of(whole) == "hello world\nsecond line\nthird line\n"


async def test_client_roots_answer_an_input_request_and_only_narrow(root: Path) -> None:
    notes = root / "notes"
    client_roots = [notes.as_uri(), (root.parent / "outside").as_uri()]
    async with connect(make_app([root]), client_roots=client_roots, modern=True) as client:
        allowed = await ok(client, "list_allowed_directories", {})
        assert allowed.structured_content == {
            "directories": [str(notes)],
            "narrowedByClientRoots": True,
        }
        assert "todo" in text_of(await ok(client, "read_text_file", {"path": "todo.md"}))
        message = await refused(
            client, "read_text_file", {"path": str(root.parent / "outside" / "secret.txt")}
        )
        assert SECRET not in message
        # No session to cache in: each call asks again, so a change shows at once.
        client_roots[:] = [(root.parent / "outside").as_uri()]
        result = await client.call_tool("list_allowed_directories", {})
        assert result.is_error and "None of your client's roots" in text_of(result)


async def test_a_write_asks_through_an_input_request_and_runs_once(root: Path) -> None:
    """MCPMESH_FS_CONFIRM_WRITES on the 2026 wire: the confirmation is an MRTR round and
    the write runs after the ticked answer, once."""
    questions: list[str] = []
    app = make_app([root], write=True)
    async with connect(app, questions=questions, modern=True) as client:
        await ok(client, "write_file", {"path": "new.txt", "content": "new"})
    assert len(questions) == 1 and "new.txt" in questions[0]
    assert (root / "new.txt").read_text() == "new"


async def test_a_declined_write_on_the_2026_wire_changes_nothing(root: Path) -> None:
    declined = types.ElicitResult(action="decline")
    async with connect(make_app([root], write=True), answer=declined, modern=True) as client:
        result = await client.call_tool("write_file", {"path": "hello.txt", "content": "x"})
    assert result.is_error and "Not done" in text_of(result), text_of(result)
    assert (root / "hello.txt").read_text() == "hello world\nsecond line\nthird line\n"
