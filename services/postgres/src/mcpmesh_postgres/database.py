"""The database side of the service: pools, the read-only sandbox, errors in plain words.

Read-only is enforced by PostgreSQL, not by looking at the SQL text:

* the login is a role that can only read (Vault's ``postgres-readonly`` or the DSN's);
* every call runs in ``BEGIN READ ONLY`` on a session whose default is read-only too;
* the text is one *prepared* statement, so ``SELECT 1; COMMIT; DROP …`` cannot parse;
* ``statement_timeout``/``lock_timeout``/``idle_in_transaction_session_timeout`` bound
  the time, and the server is asked for at most cap + 1 rows (the protocol's Execute row
  limit, the portal left suspended), so a huge result is never produced beyond the cap,
  let alone held in memory;
* the transaction always ends in ROLLBACK, sent in one message with the session reset
  the pool would otherwise send on release (:class:`SandboxConnection`).

A call costs three round trips: ``BEGIN READ ONLY``; Bind + Execute(cap + 1) + Sync of the
statement (asyncpg's per-connection statement cache skips Parse when the same text comes
again); ``ROLLBACK`` + reset. A text the connection has not run before costs one more, its
Parse (as the unnamed statement: see :meth:`SandboxConnection.statement`).
* the login itself is checked (:mod:`mcpmesh_postgres.login`) before a pool serves: no
  superuser, server-file/program/signal roles, BYPASSRLS, or ownership of what it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import asyncpg
import msgspec
import structlog

from mcpmesh import ToolError
from mcpmesh.obs.metrics import upstream
from mcpmesh.secrets import DevSecretProvider, SecretUnavailable
from mcpmesh_postgres.convert import arguments_for, server_settings, to_json
from mcpmesh_postgres.login import check_login
from mcpmesh_postgres.pool import Credentials, CredentialSource, LoginCheck, RotatingPool
from mcpmesh_postgres.settings import PostgresSettings

log = structlog.get_logger("mcpmesh.postgres")

T = TypeVar("T")

#: Errors of a cached statement the session no longer matches (a table changed its
#: columns, or the statement was deallocated): the call is run once more, re-prepared.
_STALE_STATEMENT = (
    asyncpg.InvalidCachedStatementError,
    asyncpg.InvalidSQLStatementNameError,
    asyncpg.exceptions.OutdatedSchemaCacheError,
)


#: Statement texts a read connection remembers having run (as hashes), to tell a repeated
#: text (prepared by name and cached) from a first one (the unnamed statement).
SEEN_TEXTS = 1024


class SandboxConnection(asyncpg.Connection):
    """A read-pool connection that ends each call in one message and skips the pool's
    separate reset when that message already carried it.

    Only ROLLBACK undoes the call's session changes (``SET``, ``set_config``…); the reset
    (advisory locks, cursors, ``LISTEN``, ``RESET ALL``) covers what a rollback does not.
    Sending both together saves a round trip per call and leaves the session exactly as
    the pool's own reset would.
    """

    _reset_sent = False
    #: Hashes of the statement texts this connection has run (most recent last).
    _seen: OrderedDict[int, None] | None = None

    async def statement(self, sql: str, timeout: float) -> Any:
        """``sql`` prepared for this call. A text this connection ran before comes from
        asyncpg's statement cache (prepared once by name, then only Bind + Execute; bounded
        by ``statement_cache_size`` and ``max_cacheable_statement_size``). A text seen for
        the first time -- most of what an assistant writes -- is prepared as the unnamed
        statement instead: it costs the same Parse, but it does not push a cached statement
        out (which costs asyncpg one more round trip to close it) and leaves nothing
        prepared on the server."""
        if self._seen is None:
            self._seen = OrderedDict()
        key = hash(sql)  # a collision only prepares a first-seen text by name
        if key in self._seen:
            self._seen.move_to_end(key)
            return await self._prepare(sql, timeout=timeout, use_cache=True)
        self._seen[key] = None
        if len(self._seen) > SEEN_TEXTS:
            self._seen.popitem(last=False)
        return await self._prepare(sql, timeout=timeout, name=False)

    async def end_call(self, timeout: float) -> None:
        """ROLLBACK and the session reset, in one simple-query message."""
        await self.execute("ROLLBACK;\n" + super().get_reset_query(), timeout=timeout)
        self._reset_sent = True

    def get_reset_query(self) -> str:
        if self._reset_sent:  # end_call sent it with the ROLLBACK
            self._reset_sent = False
            return ""
        return cast(str, super().get_reset_query())


async def fetch_at_most(statement: Any, args: list[Any], rows: int, timeout: float) -> list[Any]:
    """At most ``rows`` rows in one round trip: Bind + Execute with a row limit + Sync, the
    call ``PreparedStatement.fetchrow`` makes with a limit of 1 (asyncpg has no public
    spelling for other limits). The server stops producing rows at the limit."""
    rows_of = statement._PreparedStatement__bind_execute
    return cast(list[Any], await rows_of(args, rows, timeout))


class Column(msgspec.Struct, frozen=True):
    name: str
    type: str


class QueryResult(msgspec.Struct, kw_only=True, rename="camel"):
    """Rows as data: ``rows[i][j]`` is the value of ``columns[j]``."""

    columns: list[Column]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = False
    truncation: str | None = None
    status: str | None = None
    elapsed_ms: float = 0.0


def explain_error(exc: BaseException, timeout: float) -> ToolError:
    """A database failure as a message for the person at the other end (no traceback)."""
    if isinstance(exc, asyncpg.QueryCanceledError | TimeoutError):
        return ToolError(
            f"The statement was stopped after the {timeout:g} s limit (statement_timeout). "
            "Narrow it (WHERE, LIMIT, an index) or ask the operator for a longer "
            "MCPMESH_PG_STATEMENT_TIMEOUT. Nothing was changed."
        )
    if isinstance(exc, asyncpg.PostgresError):
        text = f"PostgreSQL refused the statement: {exc.args[0] if exc.args else exc}"
        hint = getattr(exc, "hint", None)
        if hint:
            text += f" Hint: {hint}"
        return ToolError(f"{text} (SQLSTATE {exc.sqlstate})")
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.InternalClientError):
        return ToolError(
            f"The database could not be reached or the connection broke ({type(exc).__name__}: "
            f"{exc}). Try again; if it persists, check that PostgreSQL is running."
        )
    return ToolError(f"The database call failed: {exc}")


class Database:
    """The read pool (always) and the write pool (read-write mode only)."""

    def __init__(self, settings: PostgresSettings, secrets: Any) -> None:
        self.settings = settings
        self.secrets = secrets
        self.read: RotatingPool | None = None
        self.write: RotatingPool | None = None
        self._lock = asyncio.Lock()
        self.database_name = urlsplit(settings.dsn).path.lstrip("/") or "postgres"

    # ------------------------------------------------------------ connecting

    @property
    def vault_configured(self) -> bool:
        return self.secrets is not None and not isinstance(self.secrets, DevSecretProvider)

    def _source(self, role: str) -> CredentialSource:
        async def fetch() -> Credentials:
            if self.secrets is not None:
                try:
                    issued = await self.secrets.database_credentials(role)
                except SecretUnavailable:
                    if self.vault_configured:
                        raise
                else:
                    return Credentials(
                        issued.username, issued.password, issued.lease_id, issued.expires_at
                    )
            return Credentials(None, None)  # the DSN's own login

        return fetch

    def _pool(self, name: str, dsn: str, role: str, *, read_only: bool) -> RotatingPool:
        s = self.settings
        return RotatingPool(
            name,
            dsn,
            self._source(role),
            size=s.pool_size,
            server_settings=server_settings(
                statement_timeout=s.statement_timeout,
                read_only=read_only,
                application_name=f"mcpmesh-postgres-{name}",
            ),
            connect_timeout=s.connect_timeout,
            rotate_before=s.rotate_before,
            drain_timeout=s.statement_timeout + 5,
            check=self._login_check(name, reads=read_only),
            connection_class=SandboxConnection if read_only else asyncpg.Connection,
        )

    def _login_check(self, pool: str, *, reads: bool) -> LoginCheck:
        async def check(conn: asyncpg.Connection) -> None:
            await check_login(
                conn, pool=pool, reads=reads, allow_privileged=self.settings.allow_privileged_login
            )

        return check

    async def ensure_open(self) -> None:
        """Open the pools on first use, so the service starts (and says what is wrong in
        ``/readyz`` and in tool errors) even while the database is down."""
        if self.read is not None and (self.write is not None or not self.settings.write):
            return
        if not self.settings.dsn:
            raise ToolError(
                "No database is configured: set MCPMESH_PG_DSN to "
                "postgresql://host:port/database (with user:password@ when no Vault issues "
                "credentials). `make run` does this for the embedded demo database."
            )
        async with self._lock:
            try:
                if self.read is None:
                    pool = self._pool(
                        "read", self.settings.dsn, self.settings.vault_read_role, read_only=True
                    )
                    await pool.start()
                    self.read = pool
                if self.settings.write and self.write is None:
                    dsn = self.settings.write_dsn or self.settings.dsn
                    pool = self._pool("write", dsn, self.settings.vault_write_role, read_only=False)
                    await pool.start()
                    self.write = pool
            except ToolError:
                raise
            except Exception as exc:
                raise explain_error(exc, self.settings.statement_timeout) from None

    async def close(self) -> None:
        for pool in (self.read, self.write):
            if pool is not None:
                await pool.close()
        self.read = self.write = None

    async def readiness(self) -> str | None:
        try:
            await self.fetch("SELECT 1")
        except ToolError as exc:
            return str(exc)
        return None

    # ------------------------------------------------------------ reading

    @contextlib.asynccontextmanager
    async def read_only(self) -> AsyncIterator[SandboxConnection]:
        """A connection inside ``BEGIN READ ONLY`` that always ends in ROLLBACK."""
        await self.ensure_open()
        assert self.read is not None
        try:
            async with self.read.acquire() as acquired:
                conn = cast(SandboxConnection, acquired)  # the read pool's connection_class
                await conn.execute("BEGIN READ ONLY", timeout=self._client_timeout)
                try:
                    with upstream("postgres"):  # timed in /metrics, a span when tracing
                        yield conn
                finally:
                    # On failure the pool's reset rolls back (and resets) on release.
                    with contextlib.suppress(Exception):
                        await conn.end_call(self._client_timeout)
        except ToolError:
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise explain_error(exc, self.settings.statement_timeout) from None

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Trusted catalog SQL (user input only in ``args``), rows as JSON-ready dicts."""

        async def rows(conn: SandboxConnection) -> list[Any]:
            return cast(list[Any], await conn.fetch(sql, *args, timeout=self._client_timeout))

        records = await self._reading(rows)
        return [{k: to_json(v) for k, v in r.items()} for r in records]

    async def _reading(self, work: Callable[[SandboxConnection], Awaitable[T]]) -> T:
        """``work`` in the read-only sandbox; run once more, in a new transaction, when a
        cached statement went stale (reads have no effect to repeat)."""
        for attempt in (1, 2):
            async with self.read_only() as conn:
                try:
                    return await work(conn)
                except _STALE_STATEMENT:
                    await conn.reload_schema_state()  # drops the connection's cached statements
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    @property
    def _client_timeout(self) -> float:
        # The server stops the statement first; this only guards against a dead peer.
        return self.settings.statement_timeout + 5

    async def query(self, sql: str, params: list[Any], max_rows: int) -> QueryResult:
        """Run untrusted SQL as one prepared statement in the read-only sandbox."""
        started = time.perf_counter()

        async def run(conn: SandboxConnection) -> QueryResult:
            statement = await conn.statement(sql, self._client_timeout)
            return await self._collect(statement, _arguments(statement, params), max_rows)

        result = await self._reading(run)
        result.elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        return result

    async def _collect(self, statement: Any, args: list[Any], max_rows: int) -> QueryResult:
        columns = [Column(a.name, a.type.name) for a in statement.get_attributes()]
        if not columns:  # a statement without a result set (SET, SHOW-less utility…)
            await statement.fetch(*args, timeout=self._client_timeout)
            return QueryResult(columns=[], rows=[], row_count=0, status=statement.get_statusmsg())
        records = await fetch_at_most(statement, args, max_rows + 1, self._client_timeout)
        rows, truncation = _bounded_rows(records, max_rows, self.settings.max_result_bytes)
        return QueryResult(
            columns=columns,
            rows=rows,
            row_count=len(rows),
            truncated=truncation is not None,
            truncation=truncation,
        )

    # ------------------------------------------------------------ writing

    async def prepare_write(self, sql: str, params: list[Any]) -> str:
        """Parse the statement on the server (one statement, parameters fit) without running
        it; returns the login it will run as, for the confirmation."""
        await self.ensure_open()
        assert self.write is not None
        try:
            async with self.write.acquire() as conn:
                statement = await conn.prepare(sql, timeout=self._client_timeout)
                _arguments(statement, params)
                return str(conn.get_settings().session_authorization or "")
        except ToolError:
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise explain_error(exc, self.settings.statement_timeout) from None

    async def execute(self, sql: str, params: list[Any], max_rows: int) -> QueryResult:
        """Run one statement in its own read-write transaction and commit it."""
        await self.ensure_open()
        assert self.write is not None
        started = time.perf_counter()
        try:
            async with self.write.acquire() as conn, conn.transaction():
                statement = await conn.prepare(sql, timeout=self._client_timeout)
                args = _arguments(statement, params)
                with upstream("postgres"):
                    records = await statement.fetch(*args, timeout=self._client_timeout)
                columns = [Column(a.name, a.type.name) for a in statement.get_attributes()]
                status = statement.get_statusmsg()
        except ToolError:
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise explain_error(exc, self.settings.statement_timeout) from None
        rows, truncation = _bounded_rows(records, max_rows, self.settings.max_result_bytes)
        return QueryResult(
            columns=columns,
            rows=rows,
            row_count=len(rows),
            truncated=truncation is not None,
            truncation=truncation,
            status=status,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        )


def _arguments(statement: Any, params: list[Any]) -> list[Any]:
    try:
        return arguments_for(statement, params)
    except ValueError as exc:
        raise ToolError(
            f"Bad parameters: {exc}. Pass one JSON value per $n, or cast in SQL ($1::text)."
        ) from None


def _bounded_rows(
    records: list[asyncpg.Record], max_rows: int, max_bytes: int
) -> tuple[list[list[Any]], str | None]:
    rows: list[list[Any]] = []
    size = 0
    for record in records[:max_rows]:
        row = [to_json(value) for value in record.values()]
        size += len(msgspec.json.encode(row))
        if size > max_bytes:
            return rows, (
                f"stopped at {len(rows)} rows: the result exceeded {max_bytes} bytes "
                "(MCPMESH_PG_MAX_RESULT_BYTES); select fewer columns or rows"
            )
        rows.append(row)
    if len(records) > max_rows:
        return rows, (
            f"only the first {max_rows} rows are returned (row cap); add LIMIT/OFFSET or "
            "aggregate to see the rest"
        )
    return rows, None
