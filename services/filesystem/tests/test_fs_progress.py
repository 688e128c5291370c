"""Long walks (content search, directory trees) report how far they got, per interval,
when the client asked for progress."""

from __future__ import annotations

from pathlib import Path

import pytest
from fs_harness import connect, make_app, ok

from mcpmesh_filesystem import service as fs_service

FILES = 3000


def many_files(tmp_path: Path) -> Path:
    base = tmp_path / "many"
    for folder in range(30):
        sub = base / f"d{folder:02}"
        sub.mkdir(parents=True)
        for index in range(FILES // 30):
            (sub / f"f{index:03}.txt").write_text(f"line {index}\nneedle {folder}\n")
    return base


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("search_file_contents", {"path": ".", "pattern": "needle 29"}),
        ("directory_tree", {"path": "."}),
    ],
)
async def test_walks_report_entries_walked(
    tool: str, arguments: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fs_service, "PROGRESS_INTERVAL", 0.001)
    base = many_files(tmp_path)
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with connect(make_app([base], max_entries=10_000)) as session:
        arguments = {**arguments, "path": str(base)}
        result = await session.call_tool(tool, arguments, progress_callback=on_progress)
        assert not result.is_error
        assert seen, "no progress during a walk of 3,000 files"
        counts = [p for p, _ in seen]
        assert counts == sorted(set(counts)) and counts[-1] <= FILES + 30 + 1
        assert all(message == f"{int(p)} entries walked" for p, message in seen)
        seen.clear()
        await ok(session, tool, arguments)  # no progress token: nothing is sent
        assert seen == []
