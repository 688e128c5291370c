"""``execute``: only in read-write mode, one statement per call, confirmed by the user."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import types
from pg_harness import Pg, mcp_session, pg_settings

from mcpmesh.testing import text_of


def answering(confirm: bool | None, asked: list[str]) -> Any:
    """An elicitation callback: yes, no (decline), or None for cancel."""

    async def callback(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        if confirm is None:
            return types.ElicitResult(action="cancel")
        if not confirm:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"confirm": True})

    return callback


async def count(pg: Pg, sql: str) -> Any:
    conn = await pg.admin()
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def write_settings(pg: Pg) -> Any:
    return pg_settings(pg.reader_dsn(), write=True, write_dsn=pg.writer_dsn())


async def test_confirmed_write_runs_and_commits(pg: Pg) -> None:
    asked: list[str] = []
    async with mcp_session(write_settings(pg), elicit=answering(True, asked)) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["execute"].annotations.destructive_hint is True
        result = await session.call_tool(
            "execute",
            {
                "sql": "INSERT INTO customers (name, email, country) VALUES ($1, $2, $3) "
                "RETURNING id, name",
                "params": ["Ada", "ada@example.com", "GB"],
            },
        )
        assert not result.is_error, text_of(result)
        assert result.structured_content["status"] == "INSERT 0 1"
        assert result.structured_content["rows"][0][1] == "Ada"
        assert len(asked) == 1 and "ada@example.com" in asked[0] and "INSERT INTO" in asked[0]
        # Reads stay read-only in read-write mode.
        read = await session.call_tool("query", {"sql": "DELETE FROM customers WHERE name = 'Ada'"})
        assert read.is_error and "SQLSTATE 25006" in text_of(read)
    assert await count(pg, "SELECT count(*) FROM customers WHERE email = 'ada@example.com'") == 1
    await count(pg, "DELETE FROM customers WHERE email = 'ada@example.com' RETURNING 1")


async def test_declined_or_cancelled_changes_nothing(pg: Pg) -> None:
    before = await count(pg, "SELECT count(*) FROM order_items")
    for answer in (False, None):
        asked: list[str] = []
        async with mcp_session(write_settings(pg), elicit=answering(answer, asked)) as session:
            result = await session.call_tool("execute", {"sql": "DELETE FROM order_items"})
            # The library's one rule for "not a yes": isError, "Not done: …".
            assert result.is_error
            assert text_of(result).startswith("Not done: the user ")
            assert "Nothing was changed" in text_of(result)
            assert asked and "DELETE FROM order_items" in asked[0]
    assert await count(pg, "SELECT count(*) FROM order_items") == before


async def test_a_string_false_is_not_a_yes(pg: Pg) -> None:
    before = await count(pg, "SELECT count(*) FROM order_items")

    async def says_false(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": "false"})

    async with mcp_session(write_settings(pg), elicit=says_false) as session:
        result = await session.call_tool("execute", {"sql": "DELETE FROM order_items"})
        assert result.is_error and text_of(result).startswith("Not done: ")
    assert await count(pg, "SELECT count(*) FROM order_items") == before


async def test_client_without_elicitation_cannot_write(pg: Pg) -> None:
    before = await count(pg, "SELECT count(*) FROM order_items")
    async with mcp_session(write_settings(pg)) as session:
        result = await session.call_tool("execute", {"sql": "DELETE FROM order_items"})
        assert result.is_error and "confirmation" in text_of(result)
    assert await count(pg, "SELECT count(*) FROM order_items") == before


async def test_one_statement_per_call_checked_before_asking(pg: Pg) -> None:
    before = await count(pg, "SELECT count(*) FROM order_items")
    asked: list[str] = []
    async with mcp_session(write_settings(pg), elicit=answering(True, asked)) as session:
        result = await session.call_tool(
            "execute", {"sql": "DELETE FROM order_items; DROP TABLE orders"}
        )
        assert result.is_error and "SQLSTATE 42601" in text_of(result)
        typo = await session.call_tool("execute", {"sql": "DELEET FROM order_items"})
        assert typo.is_error and "SQLSTATE 42601" in text_of(typo)
        assert asked == []  # the server rejected them before the user was bothered
    assert await count(pg, "SELECT count(*) FROM order_items") == before


async def test_failed_write_is_rolled_back(pg: Pg) -> None:
    asked: list[str] = []
    async with mcp_session(write_settings(pg), elicit=answering(True, asked)) as session:
        result = await session.call_tool(
            "execute", {"sql": "UPDATE products SET price = -1 WHERE id = 1"}
        )
        assert result.is_error and "SQLSTATE 23514" in text_of(result)
        assert "rolled back" in text_of(result)
        denied = await session.call_tool("execute", {"sql": "DROP TABLE orders"})
        assert denied.is_error and "SQLSTATE 42501" in text_of(denied)  # not the owner
    assert await count(pg, "SELECT price FROM products WHERE id = 1") > 0
    assert await count(pg, "SELECT count(*) FROM orders") == 200


def test_write_is_the_switch_and_the_old_name_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    from mcpmesh_postgres.service import load_postgres_settings

    monkeypatch.delenv("MCPMESH_PG_WRITE", raising=False)
    monkeypatch.delenv("MCPMESH_PG_READ_WRITE", raising=False)
    assert load_postgres_settings().write is False
    monkeypatch.setenv("MCPMESH_PG_READ_WRITE", "true")  # the old name: same meaning
    assert load_postgres_settings().write is True
    monkeypatch.setenv("MCPMESH_PG_WRITE", "false")  # the new name wins
    assert load_postgres_settings().write is False
