"""Every read tool, through the official Python SDK client against the running service."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fs_harness import PNG, WAV, connect, make_app, ok, refused
from mcp import ClientSession
from mcp.shared.exceptions import MCPError

from mcpmesh.testing import text_of

READ_TOOLS = {
    "read_text_file",
    "read_media_file",
    "read_multiple_files",
    "list_directory",
    "list_directory_with_sizes",
    "directory_tree",
    "search_files",
    "search_file_contents",
    "get_file_info",
    "list_allowed_directories",
}
FILES = ("hello.txt", "image.png", "sound.wav", "blob.bin")
#: directory_tree's JSON is its text only: no outputSchema, no structuredContent (service.py).
STRUCTURED = READ_TOOLS - {"read_text_file", "read_media_file", "directory_tree"}


async def test_read_only_by_default_lists_only_read_tools(root: Path) -> None:
    async with connect(make_app([root])) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == READ_TOOLS
        for tool in tools.values():
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is True
            assert tool.annotations.open_world_hint is False
            assert tool.annotations.idempotent_hint is True
            assert tool.input_schema.get("additionalProperties") is False or tool.name == (
                "list_allowed_directories"
            )
            assert (tool.output_schema is not None) == (tool.name in STRUCTURED), tool.name
        with pytest.raises(MCPError, match="Unknown tool"):
            await session.call_tool("write_file", {"path": "x.txt", "content": "no"})
    assert not (root / "x.txt").exists()


async def test_read_text_file_whole_head_tail(root: Path) -> None:
    async with connect(make_app([root])) as session:
        whole = await ok(session, "read_text_file", {"path": str(root / "hello.txt")})
        assert text_of(whole) == "hello world\nsecond line\nthird line\n"
        relative = await ok(session, "read_text_file", {"path": "hello.txt"})
        assert text_of(relative) == text_of(whole)
        head = await ok(session, "read_text_file", {"path": "hello.txt", "head": 2})
        assert text_of(head) == "hello world\nsecond line\n"
        tail = await ok(session, "read_text_file", {"path": "hello.txt", "tail": 1})
        assert text_of(tail) == "third line\n"
        both = await refused(session, "read_text_file", {"path": "hello.txt", "head": 1, "tail": 1})
        assert "either head or tail" in both
        assert "No such file" in await refused(session, "read_text_file", {"path": "nope.txt"})


async def test_read_text_file_caps_size_and_says_so(root: Path) -> None:
    (root / "big.txt").write_text("".join(f"line {i:05d}\n" for i in range(2000)))  # 22,000 bytes
    async with connect(make_app([root], max_file_bytes=1000)) as session:
        result = await ok(session, "read_text_file", {"path": "big.txt"})
        assert len(result.content) == 2
        assert len(result.content[0].text.encode()) == 1000
        assert "truncated" in result.content[1].text and "22000 bytes" in result.content[1].text
        tail = await ok(session, "read_text_file", {"path": "big.txt", "tail": 3})
        assert tail.content[0].text == "line 01997\nline 01998\nline 01999\n"
        huge_tail = await ok(session, "read_text_file", {"path": "big.txt", "tail": 1000})
        assert huge_tail.content[0].text.endswith("line 01999\n")
        assert huge_tail.content[0].text.startswith("line ")  # starts on a line boundary
        assert "truncated" in huge_tail.content[1].text


async def test_binary_is_not_returned_as_text(root: Path) -> None:
    async with connect(make_app([root])) as session:
        message = await refused(session, "read_text_file", {"path": "blob.bin"})
        assert "binary" in message and "read_media_file" in message


async def test_read_media_file_image_audio_and_blob(root: Path) -> None:
    async with connect(make_app([root])) as session:
        image = await ok(session, "read_media_file", {"path": "image.png"})
        assert image.content[0].type == "image"
        assert image.content[0].mime_type == "image/png"
        assert base64.b64decode(image.content[0].data) == PNG
        audio = await ok(session, "read_media_file", {"path": "sound.wav"})
        assert audio.content[0].type == "audio"
        assert audio.content[0].mime_type in ("audio/wav", "audio/x-wav")
        assert base64.b64decode(audio.content[0].data) == WAV
        blob = await ok(session, "read_media_file", {"path": "blob.bin"})
        assert blob.content[0].type == "resource"
        assert base64.b64decode(blob.content[0].resource.blob) == (root / "blob.bin").read_bytes()
    async with connect(make_app([root], max_file_bytes=10)) as session:
        assert "limit" in await refused(session, "read_media_file", {"path": "image.png"})


async def test_read_multiple_files_reports_failures_per_file(root: Path) -> None:
    async with connect(make_app([root])) as session:
        result = await ok(
            session,
            "read_multiple_files",
            {"paths": ["hello.txt", "missing.txt", "../outside/secret.txt", "notes/todo.md"]},
        )
        files = result.structured_content["files"]
        assert [bool(f.get("error")) for f in files] == [False, True, True, False]
        assert files[0]["text"].startswith("hello world")
        assert "# todo" in files[3]["text"]
        assert "TOP SECRET" not in json.dumps(files)


async def test_read_multiple_files_share_one_budget(root: Path) -> None:
    async with connect(make_app([root], max_call_bytes=30)) as session:
        result = await ok(session, "read_multiple_files", {"paths": ["hello.txt", "notes/todo.md"]})
        first, second = result.structured_content["files"]
        assert first["truncated"] is True and len(first["text"].split("\n")[0]) <= 30
        assert "limit" in second["error"]
        assert result.structured_content["truncated"] is True


async def test_list_directory_and_sizes(root: Path) -> None:
    (root / "link").symlink_to("hello.txt")
    total = sum(len(p.read_bytes()) for p in map(root.joinpath, FILES))
    async with connect(make_app([root])) as session:
        listing = await ok(session, "list_directory", {"path": str(root)})
        assert "[DIR] notes" in text_of(listing) and "[FILE] hello.txt" in text_of(listing)
        entries = {e["name"]: e["type"] for e in listing.structured_content["entries"]}
        assert entries == {
            "blob.bin": "file",
            "hello.txt": "file",
            "image.png": "file",
            "link": "symlink",
            "notes": "directory",
            "sound.wav": "file",
        }
        sized = await ok(session, "list_directory_with_sizes", {"path": ".", "sortBy": "size"})
        data = sized.structured_content
        sizes = [e["size"] for e in data["entries"] if e["type"] == "file"]
        assert sizes == sorted(sizes, reverse=True)
        assert data["files"] == 4 and data["directories"] == 1
        assert data["totalBytes"] == total
        by_name = await ok(session, "list_directory_with_sizes", {"path": "."})
        names = [e["name"] for e in by_name.structured_content["entries"]]
        assert names == sorted(names)
        assert "not a directory" in (
            await refused(session, "list_directory", {"path": "hello.txt"})
        )


async def tree_of(session: ClientSession, arguments: dict[str, object]) -> dict[str, Any]:
    """directory_tree's answer: its JSON, sent once as text (no structuredContent)."""
    result = await ok(session, "directory_tree", arguments)
    assert result.structured_content is None
    tree: dict[str, Any] = json.loads(text_of(result))
    return tree


async def test_directory_tree_excludes_and_depth(root: Path) -> None:
    async with connect(make_app([root])) as session:
        tree = await tree_of(session, {"path": str(root)})
        assert tree["path"] == str(root)
        notes = next(n for n in tree["tree"] if n["name"] == "notes")
        deep = next(n for n in notes["children"] if n["name"] == "deep")
        assert deep["children"] == [{"name": "code.py", "type": "file"}]
        assert tree["entries"] == 8
        shallow = await tree_of(session, {"path": ".", "maxDepth": 1})
        assert next(n for n in shallow["tree"] if n["name"] == "notes")["children"] == []
        excluded = await tree_of(session, {"path": ".", "excludePatterns": ["deep", "*.png"]})
        flat = json.dumps(excluded)
        assert "code.py" not in flat and "image.png" not in flat and "todo.md" in flat
    async with connect(make_app([root], max_entries=3)) as session:
        capped = await tree_of(session, {"path": "."})
        assert capped["entries"] == 3 and capped["truncated"] is True


async def test_search_files_glob_and_exclude(root: Path) -> None:
    async with connect(make_app([root])) as session:
        found = (
            await ok(session, "search_files", {"path": str(root), "pattern": "**/*.py"})
        ).structured_content
        assert found["matches"] == [str(root / "notes" / "deep" / "code.py")]
        top = (
            await ok(session, "search_files", {"path": ".", "pattern": "*.txt"})
        ).structured_content
        assert top["matches"] == [str(root / "hello.txt")]
        none = (
            await ok(
                session,
                "search_files",
                {"path": ".", "pattern": "**/*.{py,md}", "excludePatterns": ["notes/deep"]},
            )
        ).structured_content
        assert none["matches"] == [str(root / "notes" / "todo.md")]


async def test_search_file_contents(root: Path) -> None:
    (root / "notes" / "many.txt").write_text("x\n" * 50)
    async with connect(make_app([root])) as session:
        result = (
            await ok(session, "search_file_contents", {"path": str(root), "pattern": r"return \d+"})
        ).structured_content
        assert result["matches"] == [
            {
                "path": str(root / "notes" / "deep" / "code.py"),
                "line": 2,
                "column": 5,
                "text": "    return 42  # answer",
            }
        ]
        assert result["filesSkippedBinary"] == 3  # blob.bin and the two media files
        anycase = (
            await ok(
                session,
                "search_file_contents",
                {"path": ".", "pattern": "HELLO", "caseSensitive": False, "include": ["*.txt"]},
            )
        ).structured_content
        assert [(m["line"], m["column"]) for m in anycase["matches"]] == [(1, 1)]
        literal = (
            await ok(
                session, "search_file_contents", {"path": ".", "pattern": "(", "literal": True}
            )
        ).structured_content
        assert literal["matches"][0]["text"] == "def main():"
        bounded = (
            await ok(
                session, "search_file_contents", {"path": ".", "pattern": "^x$", "maxResults": 5}
            )
        ).structured_content
        assert len(bounded["matches"]) == 5 and bounded["truncated"] is True
        assert [m["line"] for m in bounded["matches"]] == [1, 2, 3, 4, 5]
        one_file = (
            await ok(session, "search_file_contents", {"path": "hello.txt", "pattern": "line"})
        ).structured_content
        assert [(m["line"], m["column"]) for m in one_file["matches"]] == [(2, 8), (3, 7)]
        assert "regular expression" in await refused(
            session, "search_file_contents", {"path": ".", "pattern": "(unclosed"}
        )


async def test_search_file_contents_stops_at_its_time_limit(root: Path) -> None:
    (root / "slow.txt").write_text("a" * 5000 + "!")
    async with connect(make_app([root], search_timeout=0.5)) as session:
        result = (
            await ok(session, "search_file_contents", {"path": ".", "pattern": r"(a|aa)+$"})
        ).structured_content
        assert result["timedOut"] is True


async def test_get_file_info_and_allowed_directories(root: Path) -> None:
    (root / "hello.txt").chmod(0o640)
    async with connect(make_app([root])) as session:
        info = (await ok(session, "get_file_info", {"path": "hello.txt"})).structured_content
        assert info["type"] == "file" and info["size"] == 35
        assert info["permissions"] == "640" and info["mode"] == "-rw-r-----"
        assert info["modified"].endswith("+00:00")
        directory = (await ok(session, "get_file_info", {"path": "notes"})).structured_content
        assert directory["type"] == "directory"
        allowed = await ok(session, "list_allowed_directories", {})
        assert allowed.structured_content == {"directories": [str(root)]}
        assert str(root) in text_of(allowed)
