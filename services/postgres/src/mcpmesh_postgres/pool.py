"""A connection pool whose credentials change under it without failing a call.

Dynamic database users from Vault expire. Before the lease ends, :class:`RotatingPool`
fetches new credentials, opens a new asyncpg pool with them and makes it current; calls
already holding a connection of the old pool finish on it, and the old pool is closed
once they have released it (``Pool.close`` waits for that). A call never sees the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
import structlog

from mcpmesh_postgres.convert import init_connection

log = structlog.get_logger("mcpmesh.postgres.pool")


class RefusedLogin(Exception):
    """The login check refused a pool's login: the pool does not serve with it."""


class Credentials(msgspec.Struct, frozen=True):
    """A login for the pool; ``expires_at`` (epoch seconds) is None for a static DSN."""

    user: str | None
    password: str | None
    lease_id: str = ""
    expires_at: float | None = None


CredentialSource = Callable[[], Awaitable[Credentials]]
#: Run on a connection of every new pool before it serves a call; raises
#: :class:`RefusedLogin` to refuse the login.
LoginCheck = Callable[[asyncpg.Connection], Awaitable[None]]


class RotatingPool:
    """An asyncpg pool for one DSN, re-opened with fresh credentials before they expire."""

    def __init__(
        self,
        name: str,
        dsn: str,
        source: CredentialSource,
        *,
        size: int,
        server_settings: dict[str, str],
        connect_timeout: float,
        rotate_before: float,
        drain_timeout: float,
        check: LoginCheck | None = None,
        connection_class: type[asyncpg.Connection] = asyncpg.Connection,
    ) -> None:
        self.name = name
        self._dsn = dsn
        self._source = source
        self._size = size
        self._server_settings = server_settings
        self._connect_timeout = connect_timeout
        self._rotate_before = rotate_before
        self._drain_timeout = drain_timeout
        self._check = check
        self._connection_class = connection_class
        #: Set when a rotation brought a login the check refused: the pool serves no more.
        self._refused: Exception | None = None
        self._pool: asyncpg.Pool | None = None
        self._credentials: Credentials | None = None
        self._issued_at = 0.0
        self._rotation: asyncio.Task[None] | None = None
        self._draining: set[asyncio.Task[None]] = set()
        #: How many times new credentials replaced old ones (for health and tests).
        self.rotations = 0

    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    async def start(self) -> None:
        credentials = await self._source()
        self._pool = await self._open(credentials)
        self._set_credentials(credentials)
        if credentials.expires_at is not None:
            self._rotation = asyncio.create_task(self._rotate_forever(), name=f"{self.name}-rotate")

    def _set_credentials(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._issued_at = time.time()

    async def _open(self, credentials: Credentials) -> asyncpg.Pool:
        """A pool for ``credentials`` whose login passed the check (else closed, raises)."""
        pool = await self._create(credentials)
        if self._check is not None:
            try:
                async with pool.acquire(timeout=self._connect_timeout) as conn:
                    await self._check(conn)
            except BaseException:
                pool.terminate()
                raise
        return pool

    async def _create(self, credentials: Credentials) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self._dsn,
            user=credentials.user,
            password=credentials.password,
            min_size=1,
            max_size=self._size,
            timeout=self._connect_timeout,
            server_settings=self._server_settings,
            init=init_connection,
            connection_class=self._connection_class,
            # A rotated-out login must not linger in idle connections.
            max_inactive_connection_lifetime=60.0,
        )

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the current pool; a call that raced a swap retries on the new one."""
        for _attempt in range(3):
            if self._refused is not None:
                raise self._refused
            pool = self._pool
            if pool is None:
                raise RuntimeError(f"{self.name} pool is not started")
            try:
                conn = await pool.acquire(timeout=self._connect_timeout)
            except asyncpg.InterfaceError:
                if pool is self._pool:
                    raise
                continue  # that pool was closing for a rotation: take the new one
            try:
                yield conn
            finally:
                await pool.release(conn)
            return
        raise RuntimeError(f"{self.name} pool kept rotating while a call waited")

    def _next_rotation_delay(self) -> float:
        assert self._credentials is not None and self._credentials.expires_at is not None
        remaining = self._credentials.expires_at - time.time()
        lifetime = max(self._credentials.expires_at - self._issued_at, 1.0)
        # Rotate rotate_before seconds early, but never later than two thirds in.
        margin = min(self._rotate_before, lifetime / 3)
        return max(remaining - margin, 0.5)

    async def _rotate_forever(self) -> None:
        while True:
            await asyncio.sleep(self._next_rotation_delay())
            try:
                await self.rotate()
            except asyncio.CancelledError:
                raise
            except RefusedLogin as exc:
                await self._refuse(exc)
                return  # a refused login is not retried
            except Exception as exc:
                log.warning("credential_rotation_failed", pool=self.name, error=str(exc))
                await asyncio.sleep(1.0)

    async def rotate(self) -> bool:
        """Fetch credentials; when they are new, swap in a pool that uses them."""
        credentials = await self._source()
        current = self._credentials
        if current is not None and (credentials.user, credentials.lease_id) == (
            current.user,
            current.lease_id,
        ):
            self._credentials = credentials  # the same lease, renewed: keep the pool
            return False
        new_pool = await self._open(credentials)
        old_pool, self._pool = self._pool, new_pool
        self._set_credentials(credentials)
        self.rotations += 1
        log.info("credentials_rotated", pool=self.name, rotations=self.rotations)
        if old_pool is not None:
            task = asyncio.create_task(self._drain(old_pool))
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)
        return True

    async def _refuse(self, exc: Exception) -> None:
        """A rotation brought a login the check refuses: stop serving rather than keep
        going on credentials that are about to expire, or on the refused ones."""
        log.error("credentials_refused", pool=self.name, error=str(exc))
        self._refused = exc
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await self._drain(pool)

    async def _drain(self, pool: asyncpg.Pool) -> None:
        """Close a replaced pool once its in-flight calls are done (bounded wait)."""
        try:
            await asyncio.wait_for(pool.close(), self._drain_timeout)
        except TimeoutError:
            pool.terminate()

    async def close(self) -> None:
        if self._rotation is not None:
            self._rotation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rotation
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await self._drain(pool)

    def stats(self) -> dict[str, Any]:
        pool = self._pool
        return {
            "size": pool.get_size() if pool else 0,
            "idle": pool.get_idle_size() if pool else 0,
            "rotations": self.rotations,
        }
