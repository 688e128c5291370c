"""Read-only is enforced by PostgreSQL: every attack here gets past a string check.

Each attack text starts like a harmless read (or hides its write behind one), so a
guard that looked at the text — "starts with SELECT", "no DROP/DELETE keyword at the
start" — would let it through. Each test asserts that the *server* refused it (its
SQLSTATE is in the error), that nothing in the database changed, and that the service
keeps serving. The write-blocking attacks also run with a login that MAY write
(``mcpmesh_write``), proving the READ ONLY transaction alone holds even when the role
would allow the write.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from pg_harness import Pg, mcp_session, pg_settings, running

from mcpmesh.testing import eventually, text_of


async def fingerprint(pg: Pg) -> dict[str, Any]:
    """Everything an attack could change, seen by the superuser."""
    conn = await pg.admin()
    try:
        return {
            "orders": await conn.fetchval("SELECT count(*) FROM orders"),
            "items": await conn.fetchval("SELECT count(*) FROM order_items"),
            "customers": await conn.fetchval(
                "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c"
            ),
            "invoice_seq": await conn.fetchval("SELECT last_value FROM invoice_numbers"),
            "tables": await conn.fetchval(
                "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
                "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            ),
            "large_objects": await conn.fetchval("SELECT count(*) FROM pg_largeobject_metadata"),
            "roles": await conn.fetchval("SELECT count(*) FROM pg_roles"),
        }
    finally:
        await conn.close()


async def assert_still_serving(session: Any) -> None:
    result = await session.call_tool("query", {"sql": "SELECT count(*) AS n FROM orders"})
    assert not result.is_error, text_of(result)
    assert result.structured_content["rows"] == [[200]]
    check = await session.call_tool("query", {"sql": "SHOW transaction_read_only"})
    assert check.structured_content["rows"] == [["on"]]


# (attack, SQLSTATEs the server may answer with) — writes the READ ONLY transaction stops.
WRITE_ATTACKS = [
    ("SELECT 1; COMMIT; DROP TABLE orders", {"42601"}),
    ("SELECT 1; DELETE FROM order_items", {"42601"}),
    ("SET TRANSACTION READ WRITE; DELETE FROM order_items", {"42601"}),
    ("BEGIN; DELETE FROM order_items; COMMIT", {"42601"}),
    ("COMMIT; DELETE FROM order_items", {"42601"}),
    ("select/**/1;/**/drop table orders", {"42601"}),
    ("WITH gone AS (DELETE FROM order_items RETURNING *) SELECT count(*) FROM gone", {"25006"}),
    ("WITH moved AS (UPDATE customers SET name = 'x' RETURNING 1) SELECT * FROM moved", {"25006"}),
    ("SELECT nextval('invoice_numbers')", {"25006", "42501"}),
    ("SELECT setval('invoice_numbers', 1)", {"25006", "42501"}),
    ("DO $$ BEGIN DELETE FROM order_items; END $$", {"25006"}),
    ("CREATE TEMP TABLE scratch AS SELECT * FROM customers", {"25006"}),
    ("SELECT * INTO TEMP scratch FROM customers", {"25006"}),
    ("SELECT lo_import('/etc/hostname')", {"25006", "42501"}),
    ("SELECT lo_from_bytea(0, 'payload'::bytea)", {"25006"}),
    ("EXPLAIN ANALYZE DELETE FROM order_items", {"25006"}),
]


@pytest.mark.parametrize("login", ["reader", "writer"])
@pytest.mark.parametrize(("sql", "codes"), WRITE_ATTACKS, ids=[a[0][:40] for a in WRITE_ATTACKS])
async def test_write_attacks_are_refused_by_the_server(
    pg: Pg, login: str, sql: str, codes: set[str]
) -> None:
    dsn = pg.reader_dsn() if login == "reader" else pg.writer_dsn()
    before = await fingerprint(pg)
    async with mcp_session(pg_settings(dsn)) as session:
        result = await session.call_tool("query", {"sql": sql})
        assert result.is_error, f"{sql!r} was not refused: {text_of(result)}"
        message = text_of(result)
        assert "PostgreSQL refused" in message
        assert any(f"SQLSTATE {code}" in message for code in codes), message
        assert await fingerprint(pg) == before
        await assert_still_serving(session)


async def test_set_transaction_read_write_alone_changes_nothing(pg: Pg) -> None:
    """The server may accept the SET (no query ran yet), but it is the call's only
    statement and the transaction is rolled back: the next call is read-only again."""
    before = await fingerprint(pg)
    async with mcp_session(pg_settings(pg.writer_dsn())) as session:
        for sql in (
            "SET TRANSACTION READ WRITE",
            "SET default_transaction_read_only = off",
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "COMMIT",
            "BEGIN",
        ):
            await session.call_tool("query", {"sql": sql})
            after = await session.call_tool("query", {"sql": "DELETE FROM order_items"})
            assert after.is_error and "SQLSTATE 25006" in text_of(after), sql
            await assert_still_serving(session)
    assert await fingerprint(pg) == before


async def test_copy_to_program_is_refused(pg: Pg, tmp_path: Any) -> None:
    marker = f"/tmp/mcpmesh-copy-attack-{os.getpid()}"
    before = await fingerprint(pg)
    async with mcp_session(pg_settings(pg.reader_dsn())) as session:
        for sql in (
            f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
            f"COPY (SELECT * FROM customers) TO '{marker}'",
            "COPY order_items FROM PROGRAM 'echo 1,1,1'",
        ):
            result = await session.call_tool("query", {"sql": sql})
            assert result.is_error, sql
            assert "SQLSTATE 42501" in text_of(result) or "SQLSTATE 25006" in text_of(result)
            await assert_still_serving(session)
    assert not await asyncio.to_thread(os.path.exists, marker)
    assert await fingerprint(pg) == before


async def test_terminating_other_sessions_is_refused(pg: Pg) -> None:
    victim = await pg.admin()
    sibling = await asyncpg_connect(pg.reader_dsn())
    try:
        victim_pid, sibling_pid = victim.get_server_pid(), sibling.get_server_pid()
        async with mcp_session(pg_settings(pg.reader_dsn())) as session:
            for pid in (victim_pid, sibling_pid):
                for fn in ("pg_terminate_backend", "pg_cancel_backend"):
                    result = await session.call_tool(
                        "query", {"sql": f"SELECT {fn}($1)", "params": [pid]}
                    )
                    assert result.is_error and "SQLSTATE 42501" in text_of(result)
            await assert_still_serving(session)
        assert await victim.fetchval("SELECT 1") == 1
        assert await sibling.fetchval("SELECT 1") == 1
    finally:
        await victim.close()
        await sibling.close()


async def asyncpg_connect(dsn: str) -> Any:
    import asyncpg

    return await asyncpg.connect(dsn)


async def test_dblink_cannot_open_a_writable_side_door(pg: Pg) -> None:
    """dblink opens a second, not read-only session; even knowing a password, the reader
    role cannot write there."""
    before = await fingerprint(pg)
    target = f"host=127.0.0.1 port={pg.cluster.port} dbname=demo user=mcpmesh_reader password={pg.reader_password}"
    async with mcp_session(pg_settings(pg.reader_dsn())) as session:
        for sql in (
            "SELECT dblink_exec($1, 'DELETE FROM order_items')",
            "SELECT dblink_exec($1, 'CREATE TABLE pwned (x int)')",
            "SELECT * FROM dblink($1, 'DELETE FROM order_items RETURNING 1') AS t(x int)",
        ):
            result = await session.call_tool("query", {"sql": sql, "params": [target]})
            assert result.is_error, sql
            assert "SQLSTATE" in text_of(result)
            await assert_still_serving(session)
    assert await fingerprint(pg) == before


async def test_pg_sleep_beyond_the_timeout_is_stopped(pg: Pg) -> None:
    async with mcp_session(pg_settings(pg.reader_dsn(), statement_timeout=1.0)) as session:
        started = time.monotonic()
        result = await session.call_tool("query", {"sql": "SELECT pg_sleep(30)"})
        elapsed = time.monotonic() - started
        assert result.is_error
        assert "1 s limit" in text_of(result)
        assert elapsed < 5, elapsed
        # Concurrent calls keep being served while one is being stopped.
        slow = asyncio.create_task(session.call_tool("query", {"sql": "SELECT pg_sleep(30)"}))
        await eventually(lambda: running(pg, "SELECT pg_sleep(30)"), message="never ran")
        await assert_still_serving(session)
        assert (await slow).is_error
        await assert_still_serving(session)


async def test_millions_of_rows_are_capped_without_being_produced(pg: Pg) -> None:
    async with mcp_session(pg_settings(pg.reader_dsn(), max_rows=50)) as session:
        for sql in (
            "SELECT n, md5(n::text) FROM (SELECT generate_series(1, 50000000) AS n) AS s",
            "SELECT a.id, b.id, c.id FROM orders a, orders b, orders c",  # 8 million rows
        ):
            started = time.monotonic()
            result = await session.call_tool("query", {"sql": sql})
            elapsed = time.monotonic() - started
            assert not result.is_error, text_of(result)
            data = result.structured_content
            assert data["rowCount"] == 50 and len(data["rows"]) == 50
            assert data["truncated"] is True and "first 50 rows" in data["truncation"]
            assert "Truncated" in text_of(result)
            # Producing all rows would outlast the 2 s statement timeout; the cursor stops
            # the server after 51.
            assert elapsed < 2, elapsed
        fewer = await session.call_tool("query", {"sql": "SELECT * FROM customers", "maxRows": 5})
        assert fewer.structured_content["rowCount"] == 5
        await assert_still_serving(session)


async def test_huge_values_are_capped_by_bytes(pg: Pg) -> None:
    settings = pg_settings(pg.reader_dsn(), max_result_bytes=100_000)
    async with mcp_session(settings) as session:
        result = await session.call_tool(
            "query", {"sql": "SELECT repeat('x', 30000) FROM generate_series(1, 20)"}
        )
        data = result.structured_content
        assert data["truncated"] is True and data["rowCount"] == 3
        assert "100000 bytes" in data["truncation"]
