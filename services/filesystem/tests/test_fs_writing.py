"""Write tools (only when read_only is off), atomicity, and failures that change nothing."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

from fs_harness import connect, make_app, ok, open_session, refused

from mcpmesh.embedded.process import free_port, port_open
from mcpmesh.testing import eventually, text_of

WRITE_TOOLS = {"write_file", "edit_file", "create_directory", "move_file"}


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


async def test_write_tools_listed_with_annotations_when_writable(root: Path) -> None:
    async with connect(make_app([root], write=True)) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) >= WRITE_TOOLS
    for name in WRITE_TOOLS:
        hints = tools[name].annotations
        assert (
            hints is not None and hints.read_only_hint is False and hints.open_world_hint is False
        )
        assert tools[name].output_schema is not None
    assert tools["write_file"].annotations.destructive_hint is True
    assert tools["edit_file"].annotations.destructive_hint is True
    assert tools["move_file"].annotations.destructive_hint is True
    assert tools["create_directory"].annotations.destructive_hint is False
    assert tools["create_directory"].annotations.idempotent_hint is True


async def test_write_file_creates_replaces_and_keeps_mode(root: Path) -> None:
    target = root / "hello.txt"
    target.chmod(0o640)
    inode = target.stat().st_ino
    async with connect(make_app([root], write=True)) as session:
        made = await ok(session, "write_file", {"path": "new.txt", "content": "fresh\n"})
        assert made.structured_content == {
            "path": str(root / "new.txt"),
            "bytesWritten": 6,
            "created": True,
        }
        replaced = await ok(session, "write_file", {"path": "hello.txt", "content": "héllo\n"})
        assert replaced.structured_content["created"] is False
        assert replaced.structured_content["bytesWritten"] == 7
    assert (root / "new.txt").read_text() == "fresh\n"
    assert target.read_text() == "héllo\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert target.stat().st_ino != inode  # replaced by rename, not rewritten in place
    assert leftovers(root) == []


async def test_write_file_refuses_directories_and_missing_parents(root: Path) -> None:
    async with connect(make_app([root], write=True, max_write_bytes=10)) as session:
        assert "directory" in await refused(
            session, "write_file", {"path": "notes", "content": "x"}
        )
        assert "No such file" in await refused(
            session, "write_file", {"path": "nope/x.txt", "content": "x"}
        )
        assert "limit" in await refused(
            session, "write_file", {"path": "big.txt", "content": "x" * 11}
        )
        assert "allowed directory itself" in await refused(
            session, "write_file", {"path": str(root), "content": "x"}
        )
    assert not (root / "big.txt").exists()


async def test_edit_file_dry_run_apply_and_clear_failures(root: Path) -> None:
    code = root / "notes" / "deep" / "code.py"
    code.chmod(0o750)
    before = code.read_text()
    async with connect(make_app([root], write=True)) as session:
        dry = await ok(
            session,
            "edit_file",
            {
                "path": str(code),
                "edits": [{"oldText": "return 42", "newText": "return 43"}],
                "dryRun": True,
            },
        )
        assert "-    return 42  # answer" in text_of(dry) and "+    return 43  # answer" in text_of(
            dry
        )
        assert dry.structured_content["dryRun"] is True
        assert code.read_text() == before
        not_found = await refused(
            session,
            "edit_file",
            {
                "path": str(code),
                "edits": [
                    {"oldText": "def main", "newText": "def run"},
                    {"oldText": "no such text", "newText": "x"},
                ],
            },
        )
        assert "Edit 2" in not_found and "not found" in not_found
        assert code.read_text() == before  # the first edit was not applied either
        (root / "twice.txt").write_text("a\nb\na\n")
        ambiguous = await refused(
            session, "edit_file", {"path": "twice.txt", "edits": [{"oldText": "a", "newText": "c"}]}
        )
        assert "occurs 2 times" in ambiguous
        applied = await ok(
            session,
            "edit_file",
            {
                "path": str(code),
                "edits": [
                    {"oldText": "def main():", "newText": "def run():"},
                    {"oldText": "42", "newText": "43"},
                ],
            },
        )
        assert applied.structured_content["edits"] == 2
    assert code.read_text() == "def run():\n    return 43  # answer\n"
    assert code.stat().st_mode & 0o777 == 0o750
    assert leftovers(code.parent) == []


async def test_edit_file_keeps_crlf_line_endings(root: Path) -> None:
    (root / "dos.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    async with connect(make_app([root], write=True)) as session:
        await ok(
            session,
            "edit_file",
            {"path": "dos.txt", "edits": [{"oldText": "one\ntwo", "newText": "1\n2"}]},
        )
    assert (root / "dos.txt").read_bytes() == b"1\r\n2\r\nthree\r\n"


async def test_create_directory_and_move_file(root: Path) -> None:
    async with connect(make_app([root], write=True)) as session:
        made = await ok(session, "create_directory", {"path": "a/b/c"})
        assert made.structured_content == {"path": str(root / "a" / "b" / "c"), "created": True}
        again = await ok(session, "create_directory", {"path": "a/b/c"})
        assert again.structured_content["created"] is False
        assert "not a directory" in await refused(
            session, "create_directory", {"path": "hello.txt"}
        )
        moved = await ok(
            session, "move_file", {"source": "hello.txt", "destination": "a/b/c/hi.txt"}
        )
        assert moved.structured_content == {
            "source": str(root / "hello.txt"),
            "destination": str(root / "a" / "b" / "c" / "hi.txt"),
        }
        (root / "keep.txt").write_text("keep me")
        message = await refused(
            session, "move_file", {"source": "a/b/c/hi.txt", "destination": "keep.txt"}
        )
        assert "never overwrites" in message
        await ok(session, "move_file", {"source": "notes", "destination": "a/notes"})
        assert "No such file" in await refused(
            session, "move_file", {"source": "gone.txt", "destination": "x.txt"}
        )
    assert (root / "keep.txt").read_text() == "keep me"
    assert (root / "a" / "b" / "c" / "hi.txt").read_text().startswith("hello")
    assert (root / "a" / "notes" / "todo.md").exists() and not (root / "notes").exists()


async def test_readers_see_the_old_file_or_the_new_one_never_a_mix(root: Path) -> None:
    old, new = "A" * 300_000, "B" * 300_000
    target = root / "atomic.txt"
    target.write_text(old)
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            data = target.read_text()
            seen.add("A" if data == old else "B" if data == new else f"torn:{len(data)}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        async with connect(make_app([root], write=True)) as session:
            for i in range(30):
                await ok(
                    session,
                    "write_file",
                    {"path": "atomic.txt", "content": new if i % 2 == 0 else old},
                )
    finally:
        stop.set()
        thread.join()
    assert seen <= {"A", "B"}, seen
    assert seen == {"A", "B"}
    assert leftovers(root) == []


def _limit_file_size() -> None:
    # Runs in the service process only: any file write past 64 KiB fails with EFBIG
    # (Python ignores SIGXFSZ), in the middle of writing the temporary file.
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


async def test_a_write_failing_midway_leaves_the_old_file_intact(
    root: Path, tmp_path: Path
) -> None:
    """The service as its own process (``mcpmesh serve``) with a file-size limit."""
    target = root / "hello.txt"
    before = target.read_bytes()
    port = free_port()
    env = {
        **os.environ,
        "MCPMESH_FS_ROOTS": str(root),
        "MCPMESH_FS_WRITE": "true",
        "MCPMESH_LOG_JSON": "true",
    }
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mcpmesh", "serve", "filesystem", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_limit_file_size,
    )
    try:
        await eventually(
            lambda: port_open("127.0.0.1", port), timeout=10, message="the server never listened"
        )
        async with open_session(f"http://127.0.0.1:{port}/mcp") as session:
            message = await refused(
                session, "write_file", {"path": "hello.txt", "content": "x" * 200_000}
            )
            assert "largest file size" in message
            await ok(session, "write_file", {"path": "small.txt", "content": "fits"})
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    assert target.read_bytes() == before
    assert leftovers(root) == []
    assert (root / "small.txt").read_text() == "fits"
