"""The postgres service through the official SDK on the 2026-07-28 stateless wire: a
write's confirmation is an MRTR round, and the statement runs once, after the yes."""

from __future__ import annotations

from pg_harness import Pg, mcp_session, pg_settings
from test_execute import answering, count

from mcpmesh.testing import text_of

INSERT = {
    "sql": "INSERT INTO customers (name, email, country) VALUES ($1, $2, $3)",
    "params": ["Grace", "grace@example.com", "US"],
}


async def test_a_confirmed_write_runs_once_and_a_declined_one_never(pg: Pg) -> None:
    settings = pg_settings(pg.reader_dsn(), write=True, write_dsn=pg.writer_dsn())
    asked: list[str] = []
    async with mcp_session(settings, elicit=answering(True, asked), modern=True) as client:
        read = await client.call_tool("query", {"sql": "SELECT count(*) FROM customers"})
        assert not read.is_error, text_of(read)
        result = await client.call_tool("execute", INSERT)
        assert not result.is_error, text_of(result)
        assert len(asked) == 1 and "grace@example.com" in asked[0]
    async with mcp_session(settings, elicit=answering(False, asked), modern=True) as client:
        declined = await client.call_tool("execute", INSERT)
        assert declined.is_error and text_of(declined).startswith("Not done: the user ")
    assert await count(pg, "SELECT count(*) FROM customers WHERE email = 'grace@example.com'") == 1
