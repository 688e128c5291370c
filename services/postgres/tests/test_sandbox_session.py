"""The read sandbox's session across calls: statements are prepared once per connection,
a stale one is re-prepared, and nothing a call does to the session reaches the next one.

The pool has one connection, so every call here reuses the same session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from pg_harness import Pg, pg_settings

from mcpmesh_postgres.database import Database

PROBE = "SELECT id, name FROM customers WHERE id = 1"


@pytest_asyncio.fixture
async def db(pg: Pg) -> AsyncIterator[Database]:
    database = Database(pg_settings(pg.reader_dsn(), pool_size=1), None)
    await database.ensure_open()
    try:
        yield database
    finally:
        await database.close()


async def prepared_count(db: Database, sql: str) -> int:
    result = await db.query(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", [sql], 10
    )
    return int(result.rows[0][0])


async def test_a_repeated_query_is_prepared_once(db: Database) -> None:
    for _ in range(3):
        assert (await db.query(PROBE, [], 10)).rows == [[1, "Customer 1"]]
    assert await prepared_count(db, PROBE) == 1


async def test_a_text_run_once_leaves_no_prepared_statement(db: Database) -> None:
    """First-seen texts use the unnamed statement: a stream of distinct texts (what an
    assistant sends) neither piles up on the server nor pushes the cached ones out."""
    texts = [f"SELECT id FROM customers WHERE id = {n}" for n in range(1, 6)]
    for n, sql in enumerate(texts, start=1):
        assert (await db.query(sql, [], 10)).rows == [[n]]
    for sql in texts:
        assert await prepared_count(db, sql) == 0
    await db.query(texts[0], [], 10)  # seen before: now prepared by name, and cached
    assert await prepared_count(db, texts[0]) == 1


async def test_deallocating_the_cached_statements_does_not_break_later_calls(
    db: Database,
) -> None:
    await db.query(PROBE, [], 10)
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]  # the catalog's path
    done = await db.query("DEALLOCATE ALL", [], 10)
    assert done.status == "DEALLOCATE ALL"
    assert (await db.query(PROBE, [], 10)).rows == [[1, "Customer 1"]]
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]


async def test_the_catalog_path_survives_deallocated_statements_alone(db: Database) -> None:
    """No query call in between to clear the connection's cache: the catalog's own
    statement is found stale and prepared again."""
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]
    await db.query("DEALLOCATE ALL", [], 10)
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]


async def test_a_table_that_changed_its_columns_is_prepared_again(pg: Pg, db: Database) -> None:
    admin = await pg.admin()
    try:
        await admin.execute(
            "DROP TABLE IF EXISTS cache_probe; CREATE TABLE cache_probe (a int);"
            "INSERT INTO cache_probe VALUES (1); GRANT SELECT ON cache_probe TO PUBLIC"
        )
        first = await db.query("SELECT * FROM cache_probe", [], 10)
        assert [c.name for c in first.columns] == ["a"]
        await admin.execute("ALTER TABLE cache_probe ADD COLUMN b text DEFAULT 'x'")
        second = await db.query("SELECT * FROM cache_probe", [], 10)
        assert [c.name for c in second.columns] == ["a", "b"]
        assert second.rows == [[1, "x"]]
    finally:
        await admin.execute("DROP TABLE IF EXISTS cache_probe")
        await admin.close()


async def test_nothing_a_call_does_to_the_session_reaches_the_next(pg: Pg, db: Database) -> None:
    before = (await db.query("SHOW application_name", [], 10)).rows
    await db.query("SELECT set_config('application_name', 'changed', false)", [], 10)
    await db.query("SELECT pg_advisory_lock(4242)", [], 10)
    await db.query("DECLARE kept CURSOR WITH HOLD FOR SELECT 1", [], 10)
    assert (await db.query("SHOW application_name", [], 10)).rows == before
    cursors = await db.query("SELECT count(*) FROM pg_cursors WHERE name = 'kept'", [], 10)
    assert cursors.rows == [[0]]
    admin = await pg.admin()
    try:
        held = await admin.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
        )
    finally:
        await admin.close()
    assert held == 0
