"""Helpers for the Postgres service tests.

The conftest starts one cluster per test session (pg_stat_statements preloaded) with two databases:
``demo`` (the demo data, pg_stat_statements and dblink installed) and ``nostats``
(the same data, no pg_stat_statements). ``MCPMESH_TEST_PG_ADMIN_DSN`` is not offered:
the attack tests need a superuser to set up and check state, which a given DSN may not be.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from mcp import types

from mcpmesh.config import ServerSettings
from mcpmesh.embedded.postgres import (
    READER_USER,
    PostgresCluster,
)
from mcpmesh.secrets import DevSecretProvider
from mcpmesh.testing import sdk_client, sdk_session, serve_in_background
from mcpmesh_postgres.service import create
from mcpmesh_postgres.settings import PostgresSettings

WRITER_USER = "mcpmesh_test_writer"


class Pg:
    """The test cluster and the logins the tests use."""

    def __init__(self, cluster: PostgresCluster, reader_password: str, writer_password: str):
        self.cluster = cluster
        self.reader_password = reader_password
        self.writer_password = writer_password

    def reader_dsn(self, database: str = "demo") -> str:
        return self.cluster.dsn(READER_USER, self.reader_password, database)

    def writer_dsn(self, database: str = "demo") -> str:
        return self.cluster.dsn(WRITER_USER, self.writer_password, database)

    def admin_dsn(self, database: str = "demo") -> str:
        return self.cluster.admin_dsn(database)

    async def admin(self, database: str = "demo") -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_dsn(database))


def pg_settings(dsn: str, **overrides: Any) -> PostgresSettings:
    values: dict[str, Any] = {"dsn": dsn, "statement_timeout": 2.0, "max_rows": 100}
    values.update(overrides)
    return PostgresSettings(**values)


Elicit = Callable[[Any, types.ElicitRequestParams], Awaitable[Any]]


@contextlib.asynccontextmanager
async def mcp_session(
    settings: PostgresSettings,
    *,
    elicit: Elicit | None = None,
    secrets: Any = None,
    modern: bool = False,
) -> AsyncIterator[Any]:
    """The service on a free port, and an official Python SDK client session to it
    (``modern``: the SDK's 2026-07-28 ``Client`` on the stateless wire)."""
    service = create(
        ServerSettings(client_request_timeout=10),
        pg=settings,
        secrets=secrets if secrets is not None else DevSecretProvider({}, service="postgres"),
    )
    async with (
        serve_in_background(service) as served,
        (
            sdk_client(served.url, elicitation=elicit)
            if modern
            else sdk_session(served.url, elicitation=elicit)
        ) as session,
    ):
        yield session


async def running(pg: Pg, sql: str, user: str | None = None) -> bool:
    """Whether PostgreSQL is running ``sql`` right now (as ``user``, if given)."""
    admin = await pg.admin()
    try:
        count = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1"
            " AND ($2::text IS NULL OR usename = $2)",
            sql,
            user,
        )
    finally:
        await admin.close()
    return bool(count)
