"""The login check: a login with powers beyond reading is refused at start and after a
credential rotation, unless the loudly logged override is set (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import structlog
from pg_harness import Pg, mcp_session, pg_settings

from mcpmesh.testing import text_of
from mcpmesh_postgres.database import Database
from mcpmesh_postgres.login import SERVER_POWERS, UnsafeLogin
from mcpmesh_postgres.pool import Credentials

#: Makes a login role: ``await make_role("IN ROLE x")`` → (name, password).
MakeRole = Callable[..., Awaitable[tuple[str, str]]]


@pytest.fixture
async def role(pg: Pg) -> AsyncIterator[MakeRole]:
    """Makes throwaway login roles (``CREATE ROLE name LOGIN <extra>``), dropped after."""
    made: list[str] = []

    async def make(extra: str = "") -> tuple[str, str]:
        name, password = f"login_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
        await pg.cluster.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' {extra};")
        await pg.cluster.psql(f"GRANT mcpmesh_read TO {name};")
        made.append(name)
        return name, password

    yield make
    for name in made:
        await pg.cluster.psql(f"DROP OWNED BY {name} CASCADE; DROP ROLE {name};", "demo")


async def refusal(pg: Pg, user: str, password: str, **settings: object) -> str | None:
    """Opening the pools with this login: None when accepted, else the refusal."""
    db = Database(pg_settings(pg.cluster.dsn(user, password, "demo"), **settings), None)
    try:
        await db.ensure_open()
    except UnsafeLogin as exc:
        assert db.read is None, "a refused login must leave no pool behind"
        return str(exc)
    finally:
        await db.close()
    return None


async def test_a_superuser_dsn_is_refused_at_start(pg: Pg) -> None:
    settings = pg_settings(pg.admin_dsn())
    with pytest.raises(UnsafeLogin) as refused:
        async with mcp_session(settings):
            pass
    message = str(refused.value)
    assert "'postgres'" in message and "is a superuser" in message
    assert "mcpmesh_read" in message and "MCPMESH_PG_ALLOW_PRIVILEGED_LOGIN" in message


@pytest.mark.parametrize(
    "grant",
    [*(f"IN ROLE {power}" for power in SERVER_POWERS), "BYPASSRLS", "SUPERUSER"],
)
async def test_powerful_logins_are_refused(pg: Pg, role: MakeRole, grant: str) -> None:
    user, password = await role(grant)
    message = await refusal(pg, user, password)
    assert message is not None, f"a login with {grant} was accepted"
    expected = grant.removeprefix("IN ROLE ").lower() if "pg_" in grant else grant.lower()
    assert expected.replace("superuser", "is a superuser") in message.lower()


async def test_power_through_a_group_role_counts(pg: Pg, role: MakeRole) -> None:
    group, _ = await role("IN ROLE pg_read_server_files")
    user, password = await role(f"IN ROLE {group}")
    message = await refusal(pg, user, password)
    assert message is not None and "pg_read_server_files" in message


async def test_a_login_that_owns_what_it_reads_is_refused(pg: Pg, role: MakeRole) -> None:
    user, password = await role()
    await pg.cluster.psql(
        f"CREATE TABLE public.{user}_notes (id int); ALTER TABLE public.{user}_notes OWNER TO {user};",
        "demo",
    )
    message = await refusal(pg, user, password)
    assert message is not None and f"owns objects it reads (public.{user}_notes)" in message


async def test_the_write_login_may_own_what_its_ddl_created(pg: Pg, role: MakeRole) -> None:
    reader, reader_password = await role()
    writer, writer_password = await role()
    await pg.cluster.psql(
        f"CREATE TABLE public.{writer}_t (id int) ; ALTER TABLE public.{writer}_t OWNER TO {writer};",
        "demo",
    )
    settings = pg_settings(
        pg.cluster.dsn(reader, reader_password, "demo"),
        write=True,
        write_dsn=pg.cluster.dsn(writer, writer_password, "demo"),
    )
    db = Database(settings, None)
    try:
        await db.ensure_open()
        assert db.read is not None and db.write is not None
    finally:
        await db.close()


async def test_plain_logins_pass(pg: Pg) -> None:
    assert await refusal(pg, "mcpmesh_reader", pg.reader_password) is None


async def test_the_override_accepts_and_logs_loudly(pg: Pg) -> None:
    with structlog.testing.capture_logs() as logs:
        async with mcp_session(pg_settings(pg.admin_dsn(), allow_privileged_login=True)) as s:
            result = await s.call_tool("query", {"sql": "SELECT current_user AS who"})
            assert not result.is_error and "postgres" in text_of(result)
    warnings = [e for e in logs if e["event"] == "privileged_login_allowed"]
    assert warnings and warnings[0]["log_level"] == "warning"
    assert any("is a superuser" in f for f in warnings[0]["findings"])


async def test_a_rotation_to_a_powerful_login_stops_the_pool(pg: Pg, role: MakeRole) -> None:
    good = await role()
    bad = await role("IN ROLE pg_signal_backend")
    issued = iter([good, bad])

    async def source() -> Credentials:
        user, password = next(issued, bad)
        return Credentials(user, password, lease_id=user, expires_at=time.time() + 1.5)

    db = Database(
        pg_settings(f"postgresql://127.0.0.1:{pg.cluster.port}/demo", rotate_before=1.0), None
    )
    db._source = lambda role_name: source  # type: ignore[method-assign]
    try:
        await db.ensure_open()
        assert (await db.fetch("SELECT current_user AS u"))[0]["u"] == good[0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                await db.fetch("SELECT 1")
            except UnsafeLogin as exc:
                assert "pg_signal_backend" in str(exc)
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the pool kept serving after rotating to a refused login")
        assert "pg_signal_backend" in (await db.readiness() or "")
    finally:
        await db.close()
