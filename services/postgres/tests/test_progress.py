"""A long query tells the client it is still running, when the client asked for progress."""

from __future__ import annotations

from pg_harness import Pg, mcp_session, pg_settings

from mcpmesh.testing import text_of


async def test_a_query_past_a_second_sends_progress(pg: Pg) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with mcp_session(pg_settings(pg.reader_dsn(), statement_timeout=10.0)) as reader:
        result = await reader.call_tool(
            "query", {"sql": "SELECT pg_sleep(2.3), 7 AS answer"}, progress_callback=on_progress
        )
        assert not result.is_error, text_of(result)
        assert result.structured_content["rows"][0][1] == 7
        assert len(seen) >= 2, seen
        assert [p for p, _ in seen] == sorted(p for p, _ in seen)
        assert all(message and message.startswith("query running") for _, message in seen)
        seen.clear()
        quick = await reader.call_tool("query", {"sql": "SELECT 1"}, progress_callback=on_progress)
        assert not quick.is_error and seen == []  # under a second: no progress at all
