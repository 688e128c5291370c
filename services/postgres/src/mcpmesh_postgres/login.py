"""The login check: the role the service logs in as must not be able to escape the
read-only sandbox.

``BEGIN READ ONLY`` stops writes, not a role's powers: a superuser still runs
``COPY … TO PROGRAM`` and ``pg_read_file``, reads ``pg_authid`` and terminates other
backends; ``pg_read_server_files``/``pg_write_server_files``/``pg_execute_server_program``
give the file and program parts of that, ``pg_signal_backend`` the terminating,
``BYPASSRLS`` and owning a table skip row-level security and column grants. The check
runs on a connection of every new pool (at start and after each credential rotation),
before that pool serves a call. Membership counts when the login can ``SET ROLE`` to, or
inherits, the powerful role (``pg_has_role(…, 'MEMBER')``).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from mcpmesh import ToolError
from mcpmesh_postgres.pool import RefusedLogin

log = structlog.get_logger("mcpmesh.postgres.login")

#: Predefined roles that reach outside the database (files, programs, other sessions).
SERVER_POWERS = (
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
)

OVERRIDE = "MCPMESH_PG_ALLOW_PRIVILEGED_LOGIN"

_FINDINGS = """
SELECT
  current_user AS login,
  (SELECT array_agg(r.rolname ORDER BY r.rolname) FROM pg_roles r
    WHERE r.rolsuper AND pg_has_role(current_user, r.oid, 'MEMBER')) AS superusers,
  (SELECT array_agg(r.rolname ORDER BY r.rolname) FROM pg_roles r
    WHERE r.rolbypassrls AND pg_has_role(current_user, r.oid, 'MEMBER')) AS bypassrls,
  (SELECT array_agg(p ORDER BY p) FROM unnest($1::text[]) AS p
    WHERE pg_has_role(current_user, p, 'MEMBER')) AS powers,
  (SELECT array_agg(name ORDER BY name) FROM (
     SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
        AND pg_has_role(current_user, c.relowner, 'MEMBER')
      LIMIT 6) AS owned) AS owned
"""


class UnsafeLogin(ToolError, RefusedLogin):
    """The service's database login has powers beyond reading; it is refused."""


async def login_findings(conn: asyncpg.Connection, *, reads: bool) -> tuple[str, list[str]]:
    """The connection's login and what is wrong with it, in words (empty: nothing).

    ``reads`` adds the ownership check: the read login must own nothing it reads; the
    write login may own the tables its confirmed DDL created.
    """
    row: Any = await conn.fetchrow(_FINDINGS, list(SERVER_POWERS))
    findings: list[str] = []
    if row["superusers"]:
        findings.append(f"is a superuser (via {', '.join(row['superusers'])})")
    if row["bypassrls"]:
        findings.append(f"has BYPASSRLS (via {', '.join(row['bypassrls'])})")
    if row["powers"]:
        findings.append(f"is a member of {', '.join(row['powers'])}")
    if reads and row["owned"]:
        owned = row["owned"][:5]
        more = ", …" if len(row["owned"]) > 5 else ""
        findings.append(f"owns objects it reads ({', '.join(owned)}{more})")
    return str(row["login"]), findings


async def check_login(
    conn: asyncpg.Connection, *, pool: str, reads: bool, allow_privileged: bool
) -> None:
    """Refuse a login with powers beyond its job, unless the operator overrode it."""
    login, findings = await login_findings(conn, reads=reads)
    if not findings:
        return
    problem = f"The PostgreSQL login {login!r} of the {pool} pool " + "; ".join(findings) + "."
    if allow_privileged:
        log.warning(
            "privileged_login_allowed",
            pool=pool,
            login=login,
            findings=findings,
            override=OVERRIDE,
            warning="the read-only sandbox does not contain this login's powers",
        )
        return
    raise UnsafeLogin(
        f"{problem} The read-only sandbox cannot contain such a login (server files, "
        "programs, other sessions, row-level security), so the service refuses it. Fix: "
        "log in as a plain role that is only a member of the grant roles "
        "(mcpmesh_read, or mcpmesh_write for writes) and owns nothing it reads — the "
        "Vault roles postgres-readonly/postgres-readwrite issue exactly that. Only for a "
        f"throwaway database, {OVERRIDE}=true accepts it (logged as a warning at every "
        "start and rotation)."
    )
