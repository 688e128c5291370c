"""The Postgres service's settings, from ``MCPMESH_PG_…`` environment variables.

Connection strings come only from the environment (never argv, where ``ps`` shows them).
Every field is documented in the service README.
"""

from __future__ import annotations

import msgspec


class PostgresSettings(msgspec.Struct, kw_only=True, frozen=True):
    #: Where the database is: ``postgresql://[user:password@]host:port/database``. With
    #: Vault, only host, port, database and options are used; without, also the login.
    dsn: str = ""
    #: Enables the ``execute`` tool (writes, each confirmed by the user). Off by default.
    #: (``MCPMESH_PG_READ_WRITE``, its old name, still works with a deprecation warning.)
    write: bool = False
    #: The login for writes when no Vault is configured (read-write mode only).
    write_dsn: str = ""
    #: Vault database-engine role for reads and for writes.
    vault_read_role: str = "postgres-readonly"
    vault_write_role: str = "postgres-readwrite"
    #: Seconds a statement may run (server ``statement_timeout`` and ``lock_timeout``).
    statement_timeout: float = 15.0
    #: Most rows one call returns; more are cut off and the result says so.
    max_rows: int = 500
    #: Most bytes of row data (as JSON) one call returns.
    max_result_bytes: int = 1_000_000
    #: Connections per pool.
    pool_size: int = 4
    #: Seconds to connect (and to wait for a free pooled connection).
    connect_timeout: float = 10.0
    #: Seconds before a credential lease ends at which the pool switches to new ones.
    rotate_before: float = 60.0
    #: Whether ``explain_query`` may use ANALYZE (it runs the query, read-only and timed).
    explain_analyze: bool = True
    #: Accept a login with powers beyond reading (superuser, server-file/program/signal
    #: roles, BYPASSRLS, owner of what it reads) instead of refusing it. Logged as a
    #: warning at every start and rotation; only for throwaway databases.
    allow_privileged_login: bool = False
