"""Every tool under a directory↔symlink *exchange* race (``renameat2(RENAME_EXCHANGE)``).

Unlike a rename-then-symlink swap, an exchange never leaves a moment where the name is
missing: ``swap`` is atomically a real directory one instant and a link to a directory
outside the root the next. Nothing outside may ever show through: no outside name,
content or metadata (the outside tree's files all carry the mtime 2001-09-09, which no
file inside has), and no write may land outside.
"""

from __future__ import annotations

import base64
import ctypes
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fs_harness import SECRET, connect, make_app

from mcpmesh.testing import text_of

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_OUTSIDE_MTIME = 1_000_000_000  # 2001-09-09T01:46:40Z
_libc = ctypes.CDLL(None, use_errno=True)
_exchange_fn = getattr(_libc, "renameat2", None)
MARKERS = ("outside-only", SECRET, base64.b64encode(SECRET.encode()).decode(), "2001-09-09")


def _exchange(a: Path, b: Path) -> None:
    assert _exchange_fn is not None
    if _exchange_fn(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), _RENAME_EXCHANGE) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


requires_exchange = pytest.mark.skipif(
    _exchange_fn is None, reason="renameat2(RENAME_EXCHANGE) needs Linux with glibc ≥ 2.28"
)


def _outside_tree(outside: Path) -> None:
    (outside / "data.txt").write_text(SECRET)
    (outside / "outside-only.txt").write_text(SECRET)
    (outside / "outside-only-dir").mkdir()
    (outside / "a.txt").write_text(SECRET)
    for path in [*outside.iterdir(), outside]:
        os.utime(path, (_OUTSIDE_MTIME, _OUTSIDE_MTIME), follow_symlinks=False)


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(directory.rglob("*"))
    }


@pytest.fixture
def exchanging(root: Path) -> Iterator[Path]:
    """``root/swap``: a real directory and a link to ``outside``, exchanged atomically in
    a loop; yields the outside directory."""
    outside = root.parent / "outside-x"
    outside.mkdir()
    _outside_tree(outside)
    swap = root / "swap"
    swap.mkdir()
    (swap / "data.txt").write_text("safe")
    (swap / "a.txt").write_text("movable")
    (swap / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (swap / "sub").mkdir()
    (root / "swap-link").symlink_to(outside)
    stop = threading.Event()
    swaps = [0]

    def exchanger() -> None:
        while not stop.is_set():
            _exchange(swap, root / "swap-link")
            swaps[0] += 1

    thread = threading.Thread(target=exchanger, daemon=True)
    before = _snapshot(outside)
    thread.start()
    yield outside
    stop.set()
    thread.join(5)
    assert swaps[0] > 100, "the exchange race did not really run"
    assert _snapshot(outside) == before, "something was written outside the root"


def _edit(path: str) -> dict[str, Any]:
    return {"path": path, "edits": [{"oldText": "safe", "newText": "safe"}]}


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("read_text_file", {"path": "swap/data.txt"}),
    ("read_media_file", {"path": "swap/image.png"}),
    ("read_media_file", {"path": "swap/data.txt"}),
    ("read_multiple_files", {"paths": ["swap/data.txt", "swap/a.txt"]}),
    ("list_directory", {"path": "swap"}),
    ("list_directory", {"path": "."}),
    ("list_directory_with_sizes", {"path": "swap"}),
    ("list_directory_with_sizes", {"path": "."}),
    ("directory_tree", {"path": "."}),
    ("directory_tree", {"path": "swap"}),
    ("search_files", {"path": ".", "pattern": "**/*"}),
    ("search_files", {"path": "swap", "pattern": "*"}),
    ("search_file_contents", {"path": ".", "pattern": "TOP SECRET"}),
    ("search_file_contents", {"path": "swap", "pattern": "TOP SECRET"}),
    ("get_file_info", {"path": "swap"}),
    ("get_file_info", {"path": "swap/data.txt"}),
    ("list_allowed_directories", {}),
    ("write_file", {"path": "swap/data.txt", "content": "safe"}),
    ("write_file", {"path": "swap/new.txt", "content": "new"}),
    ("edit_file", _edit("swap/data.txt")),
    ("create_directory", {"path": "swap/made"}),
    ("create_directory", {"path": "swap/sub/deeper"}),
    ("move_file", {"source": "swap/a.txt", "destination": "swap/b.txt"}),
]


@requires_exchange
@pytest.mark.parametrize(
    ("tool", "arguments"), CALLS, ids=lambda v: v if isinstance(v, str) else ""
)
async def test_tool_never_shows_or_touches_outside_under_exchange(
    root: Path, exchanging: Path, tool: str, arguments: dict[str, Any]
) -> None:
    outcomes = {"ok": 0, "refused": 0}
    app = make_app([root], write=True, confirm_writes=False)
    async with connect(app) as session:
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline or not outcomes["ok"]:
            result = await session.call_tool(tool, arguments)
            shown = text_of(result) + repr(result.structured_content)
            for marker in MARKERS:
                assert marker not in shown, f"{tool} showed {marker!r} from outside: {shown[:300]}"
            assert "Traceback" not in shown and "Internal error" not in shown
            outcomes["refused" if result.is_error else "ok"] += 1
            assert time.monotonic() < deadline + 10, outcomes


@requires_exchange
def test_the_root_itself_exchanged_with_a_link(tmp_path: Path) -> None:
    """The configured root's own path exchanged with a link out: the sandbox opens the
    root one component at a time without following links, so it refuses rather than
    listing the outside."""
    from mcpmesh_filesystem.sandbox import FsError, Sandbox

    base = tmp_path / "base"
    (base / "root").mkdir(parents=True)
    (base / "root" / "inside.txt").write_text("inside")
    outside = tmp_path / "outside-x"
    outside.mkdir()
    _outside_tree(outside)
    (base / "root-link").symlink_to(outside)
    sandbox = Sandbox.from_paths([str(base / "root")], max_path_bytes=4096, max_depth=64)
    seen = {"inside": 0, "refused": 0}
    for _ in range(200):
        _exchange(base / "root", base / "root-link")
        try:
            with sandbox.resolve(sandbox.roots, ".", want="dir") as found:
                assert found.fd is not None
                names = os.listdir(found.fd)
        except FsError:
            seen["refused"] += 1
            continue
        assert "outside-only.txt" not in names
        seen["inside"] += 1
    assert seen["inside"] > 0 and seen["refused"] > 0, seen
