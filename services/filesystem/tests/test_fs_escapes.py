"""Every way out of the sandbox the issue lists, tried through the official SDK client.

Each test puts a secret next to the root and asserts it never comes back, whatever the
tool; a refusal must be a clear isError result, never a stack trace.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from fs_harness import SECRET, connect, make_app, ok, refused

from mcpmesh.testing import text_of
from mcpmesh_filesystem.sandbox import FsError, Sandbox

READERS = ("read_text_file", "read_media_file", "get_file_info")


async def assert_all_refuse(session, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    messages = [await refused(session, tool, {"path": path}) for tool in READERS]
    multi = await ok(session, "read_multiple_files", {"paths": [path]})
    assert multi.structured_content["files"][0].get("error")
    assert SECRET not in text_of(multi)
    return messages


pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|removed).*")


async def test_dot_dot_and_absolute_paths_outside(root: Path) -> None:
    outside = root.parent / "outside" / "secret.txt"
    async with connect(make_app([root])) as session:
        for path in (
            "../outside/secret.txt",
            "notes/../../outside/secret.txt",
            f"{root}/../outside/secret.txt",
            str(outside),
            "/etc/passwd",
            f"{root}/notes/deep/../../../outside/secret.txt",
        ):
            messages = await assert_all_refuse(session, path)
            assert any("outside" in m or "above" in m for m in messages), messages
        for tool in ("list_directory", "directory_tree"):
            await refused(session, tool, {"path": str(outside.parent)})
        await refused(session, "search_file_contents", {"path": "..", "pattern": "SECRET"})
        # ".." that stays inside is fine
        fine = await ok(session, "read_text_file", {"path": "notes/deep/../../hello.txt"})
        assert text_of(fine).startswith("hello world")


async def test_sibling_with_the_same_prefix_is_outside(root: Path) -> None:
    """CVE-2025-53110: /x/root-evil starts with /x/root but is not inside it."""
    async with connect(make_app([root])) as session:
        await assert_all_refuse(session, f"{root}-evil/secret.txt")
        await refused(session, "list_directory", {"path": f"{root}-evil"})


async def test_symlinks_out_are_refused_in(root: Path) -> None:
    outside = root.parent / "outside"
    (root / "abs_out").symlink_to(outside / "secret.txt")
    (root / "rel_out").symlink_to("../outside/secret.txt")
    (root / "dir_out").symlink_to(outside)
    (root / "chain1").symlink_to("chain2")
    (root / "chain2").symlink_to("notes/chain3")
    (root / "notes" / "chain3").symlink_to("../../outside/secret.txt")
    (root / "loop").symlink_to("loop")
    (root / "inside_abs").symlink_to(root / "hello.txt")
    (root / "inside_rel").symlink_to("notes/../hello.txt")
    (root / "notes" / "up").symlink_to("..")
    async with connect(make_app([root])) as session:
        for path in (
            "abs_out",
            "rel_out",
            "dir_out/secret.txt",
            "chain1",
            "notes/up/dir_out/secret.txt",
        ):
            messages = await assert_all_refuse(session, path)
            assert all("outside" in m or "above" in m for m in messages), messages
        await refused(session, "list_directory", {"path": "dir_out"})
        assert "symbolic links" in await refused(session, "read_text_file", {"path": "loop"})
        for path in (
            "inside_abs",
            "inside_rel",
            "notes/up/hello.txt",
            "notes/up/notes/up/hello.txt",
        ):
            assert text_of(await ok(session, "read_text_file", {"path": path})).startswith("hello")
        # walks report links, never enter them
        tree = await ok(session, "directory_tree", {"path": "."})
        assert SECRET not in text_of(tree) and "secret.txt" not in text_of(tree)
        found = await ok(session, "search_file_contents", {"path": ".", "pattern": "SECRET"})
        assert found.structured_content["matches"] == []


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("hello.txt\x00.png", "null byte"),
        ("notes/\x00/../../outside/secret.txt", "null byte"),
        ("a/" * 3000 + "x", "bytes long"),
        ("n" * 300, "longer than 255"),
        ("\uff0e\uff0e/outside/secret.txt", "normalisation"),  # fullwidth dots
        ("\u2025/outside/secret.txt", "normalisation"),  # two-dot leader
        ("notes\uff0f..\uff0f..\uff0foutside", "normalisation"),  # fullwidth solidus
        ("hello\u202etxt.exe", "invisible or control"),  # right-to-left override
        ("hel\u200blo.txt", "invisible or control"),  # zero-width space
        ("hello.txt\n", "control character"),
        ("..\\outside\\secret.txt", "Backslash"),
        ("", "empty"),
    ],
)
async def test_hostile_path_text_is_refused_before_any_lookup(
    root: Path, path: str, reason: str
) -> None:
    async with connect(make_app([root])) as session:
        for tool in READERS:
            assert reason in await refused(session, tool, {"path": path})


async def test_overlong_and_too_deep_paths(root: Path) -> None:
    deep = root
    for _ in range(12):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("deep")
    async with connect(make_app([root], max_depth=8)) as session:
        assert "deeper than 8" in await refused(
            session, "read_text_file", {"path": "d/" * 12 + "f.txt"}
        )
        tree = await ok(session, "directory_tree", {"path": "."})
        assert '"f.txt"' not in text_of(tree)


def _swapper(root: Path, outside: Path, stop: threading.Event) -> None:
    """Swap ``root/swap`` between a real directory and a link to ``outside``, forever."""
    real = root / "swap"
    parked = root / "swap.parked"
    while not stop.is_set():
        real.rename(parked)
        real.symlink_to(outside)
        real.unlink()
        parked.rename(real)


@pytest.fixture
def swapping(root: Path):  # type: ignore[no-untyped-def]
    outside = root.parent / "outside"
    (outside / "data.txt").write_text(SECRET)
    (root / "swap").mkdir()
    (root / "swap" / "data.txt").write_text("safe")
    stop = threading.Event()
    thread = threading.Thread(target=_swapper, args=(root, outside, stop), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


@pytest.mark.usefixtures("swapping")
async def test_symlink_swapped_between_check_and_open_through_the_client(root: Path) -> None:
    seen = {"safe": 0, "refused": 0}
    async with connect(make_app([root], write=True)) as session:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            result = await session.call_tool("read_text_file", {"path": "swap/data.txt"})
            body = text_of(result)
            assert SECRET not in body
            seen["refused" if result.is_error else "safe"] += 1
            if not result.is_error:
                assert body == "safe"
            write = await session.call_tool(
                "write_file", {"path": "swap/data.txt", "content": "safe"}
            )
            assert SECRET not in text_of(write)
    assert (root.parent / "outside" / "data.txt").read_text() == SECRET
    assert seen["safe"] > 0 and seen["refused"] > 0, seen  # the race was really run


@pytest.mark.usefixtures("swapping")
def test_symlink_swap_race_many_times_in_threads(root: Path) -> None:
    """The same race without HTTP in between, 4 threads, thousands of resolutions."""
    sandbox = Sandbox.from_paths([str(root)], max_path_bytes=4096, max_depth=64)
    leaks: list[str] = []
    outcomes = {"safe": 0, "refused": 0}

    def reader() -> None:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            try:
                with sandbox.resolve(sandbox.roots, "swap/data.txt") as found:
                    assert found.fd is not None
                    data = os.read(found.fd, 100).decode()
                outcomes["safe"] += 1
                if data != "safe":
                    leaks.append(data)
            except (FsError, OSError):
                outcomes["refused"] += 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert leaks == []
    assert outcomes["safe"] > 100 and outcomes["refused"] > 100, outcomes


async def test_writes_never_follow_a_link_out(root: Path) -> None:
    outside = root.parent / "outside"
    (root / "out_file").symlink_to(outside / "secret.txt")
    (root / "out_dir").symlink_to(outside)
    (root / "in_file").symlink_to("hello.txt")
    async with connect(make_app([root], write=True)) as session:
        for tool, args in (
            ("write_file", {"path": "out_file", "content": "pwned"}),
            ("write_file", {"path": "out_dir/new.txt", "content": "pwned"}),
            ("write_file", {"path": "../outside/secret.txt", "content": "pwned"}),
            ("edit_file", {"path": "out_file", "edits": [{"oldText": "TOP", "newText": "X"}]}),
            ("create_directory", {"path": "out_dir/newdir"}),
            ("create_directory", {"path": "../escape"}),
            ("move_file", {"source": "hello.txt", "destination": "out_dir/moved.txt"}),
            ("move_file", {"source": "../outside/secret.txt", "destination": "stolen.txt"}),
            ("move_file", {"source": "out_dir/secret.txt", "destination": "stolen.txt"}),
        ):
            await refused(session, tool, args)
        # a link that stays inside is written through to its target, which stays a file
        await ok(session, "write_file", {"path": "in_file", "content": "new hello\n"})
        assert (root / "hello.txt").read_text() == "new hello\n"
        assert (root / "in_file").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == SECRET
    assert not (root.parent / "escape").exists() and not (root / "stolen.txt").exists()


async def test_client_roots_narrow_and_never_widen(root: Path) -> None:
    notes = root / "notes"
    client_roots = [notes.as_uri(), (root.parent / "outside").as_uri()]
    async with connect(make_app([root]), client_roots=client_roots) as session:
        allowed = await ok(session, "list_allowed_directories", {})
        assert allowed.structured_content == {
            "directories": [str(notes)],
            "narrowedByClientRoots": True,
        }
        assert "todo" in text_of(await ok(session, "read_text_file", {"path": "todo.md"}))
        await refused(session, "read_text_file", {"path": str(root / "hello.txt")})
        await refused(session, "read_text_file", {"path": "../hello.txt"})
        await refused(
            session, "read_text_file", {"path": str(root.parent / "outside" / "secret.txt")}
        )
        # the client changes its roots: asked again after roots/list_changed
        client_roots[:] = [root.parent.as_uri()]  # above the configured root: grants only it
        await session.send_roots_list_changed()
        for _ in range(50):
            allowed = await ok(session, "list_allowed_directories", {})
            if allowed.structured_content["directories"] == [str(root)]:
                break
        assert allowed.structured_content["directories"] == [str(root)]
        await refused(
            session, "read_text_file", {"path": str(root.parent / "outside" / "secret.txt")}
        )
        client_roots[:] = [(root.parent / "outside").as_uri()]
        await session.send_roots_list_changed()
        message = ""
        for _ in range(50):
            result = await session.call_tool("list_allowed_directories", {})
            if result.is_error:
                message = text_of(result)
                break
        assert "None of your client's roots" in message


async def test_client_root_through_a_link_inside_is_resolved(root: Path) -> None:
    (root / "notes_link").symlink_to("notes")
    (root / "out_link").symlink_to(root.parent / "outside")
    client_roots = [(root / "notes_link").as_uri(), (root / "out_link").as_uri()]
    async with connect(make_app([root]), client_roots=client_roots) as session:
        allowed = await ok(session, "list_allowed_directories", {})
        assert allowed.structured_content["directories"] == [str(root / "notes")]
        assert "todo" in text_of(
            await ok(session, "read_text_file", {"path": str(root / "notes_link" / "todo.md")})
        )


async def test_client_without_roots_gets_the_configured_roots(root: Path) -> None:
    second = root.parent / "second"
    second.mkdir()
    (second / "b.txt").write_text("second root")
    async with connect(make_app([root, second])) as session:
        allowed = await ok(session, "list_allowed_directories", {})
        assert allowed.structured_content == {"directories": [str(root), str(second)]}
        assert text_of(await ok(session, "read_text_file", {"path": str(second / "b.txt")})) == (
            "second root"
        )
