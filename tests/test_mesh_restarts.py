"""``make run`` across restarts, with real signals in subprocesses: SIGHUP (a closed
terminal) stops every backend; a stored token survives a restart (persistent OpenBao
that unseals itself); a run killed with SIGKILL leaves backends the next run recovers
from, saying so; once the mesh is down `mcpmesh audit` fails in seconds; `mcpmesh
secrets set` refuses a service that is not installed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hvac
import pytest

from mcpmesh.embedded.process import process_alive
from mcpmesh.testing import initialize_status

#: The PID files each embedded backend keeps while it runs (mcpmesh.embedded.process).
PID_FILES = (
    "postgres/postgres.pid",
    "vault/vault.pid",
    "nats/nats-server.pid",
    "authserver/authserver.pid",
)


def env_for(workdir: Path) -> dict[str, str]:
    return {**os.environ, "MCPMESH_WORKDIR": str(workdir), "MCPMESH_LOG_LEVEL": "warning"}


def backend_pids(workdir: Path) -> dict[str, int]:
    pids = {}
    for name in PID_FILES:
        path = workdir / name
        assert process_alive(path), f"{name}: backend not running"
        pids[name] = int(path.read_text().split()[0])
    return pids


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    )


async def gone(pids: dict[str, int], timeout: float) -> list[str]:
    """The backends still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [name for name, pid in pids.items() if running(pid)]
        if not left:
            return []
        await asyncio.sleep(0.1)
    return [name for name, pid in pids.items() if running(pid)]


@contextlib.asynccontextmanager
async def mesh(workdir: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """``mcpmesh up fixture filesystem`` (one open service, one that needs a token, so the
    authorization server runs too) until it prints that it is up; yields it and its stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        "up",
        "fixture",
        "filesystem",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env_for(workdir),
        start_new_session=True,  # its own process group, as a terminal's job is
    )
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []

    async def collect(stream: asyncio.StreamReader) -> None:
        async for line in stream:
            errors.append(line.decode())

    stderr = asyncio.ensure_future(collect(process.stderr))
    try:

        async def until_up() -> None:
            assert process.stdout is not None
            async for line in process.stdout:
                if line.startswith(b"Ctrl-C stops the mesh."):
                    return
            raise AssertionError("mcpmesh up ended early:\n" + "".join(errors))

        await asyncio.wait_for(until_up(), 120)
        yield process, errors
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
        await stderr


async def cli(workdir: Path, *args: str, stdin: bytes = b"") -> tuple[int, str, float]:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env_for(workdir),
    )
    out, _ = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), time.monotonic() - started


def read_as_slack(workdir: Path, addr: str) -> str:
    """The Slack service's view of its token: its own AppRole login, as it runs."""
    client = hvac.Client(url=addr)
    secret_id = (workdir / "vault" / "approle" / "slack.secret-id").read_text().strip()
    client.auth.approle.login(role_id="mcpmesh-slack", secret_id=secret_id)
    data = client.secrets.kv.v2.read_secret_version(
        path="services/slack/bot_token", mount_point="mcpmesh", raise_on_deleted_version=True
    )
    return str(data["data"]["data"]["value"])


def filesystem_url(workdir: Path) -> str:
    """The running mesh's filesystem URL, as its authorization server registered it."""
    import json

    return json.loads((workdir / "authserver" / "mesh.json").read_text())["resources"]["filesystem"]


def vault_addr(workdir: Path) -> str:
    import json

    return str(json.loads((workdir / "vault" / "operator.json").read_text())["addr"])


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Outside pytest's 0700 base temp dir: the embedded PostgreSQL runs as an
    unprivileged user when the tests run as root, and must reach its data directory."""
    path = Path(tempfile.mkdtemp(prefix="mcpmesh-restarts-"))
    yield path / "mesh"
    # A failed run may leave backends behind (that is what the test provokes): stop them.
    for pid_file in (path / "mesh").glob("*/*.pid"):
        if process_alive(pid_file):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(400)
async def test_signals_restarts_and_a_crash(workdir: Path) -> None:
    async with mesh(workdir) as (process, _):
        code, out, _ = await cli(
            workdir, "secrets", "set", "slakc", "bot_token", stdin=b"xoxb-typo\n"
        )
        assert code == 2 and "unknown service 'slakc'" in out and "slack" in out
        code, out, _ = await cli(
            workdir, "secrets", "set", "slack", "bot_token", stdin=b"xoxb-kept\n"
        )
        assert code == 0, out
        code, token, _ = await cli(workdir, "token", "filesystem")
        assert code == 0, token
        token = token.strip()
        assert await initialize_status(filesystem_url(workdir), token) == 200
        pids = backend_pids(workdir)
        # A closed terminal: SIGHUP stops the mesh and every backend.
        process.send_signal(signal.SIGHUP)
        await asyncio.wait_for(process.wait(), 60)
        assert await gone(pids, 20) == []
        assert not any((workdir / name).exists() for name in PID_FILES)

    # The mesh is down: `mcpmesh audit` says so at once, it does not hang.
    for action in ("tail", "verify"):
        code, out, took = await cli(workdir, "audit", action)
        assert code == 2 and "no running mesh" in out and took < 10, (out, took)
    code, out, _ = await cli(workdir, "token", "filesystem")
    assert code == 2 and "no running mesh" in out, out

    # A restart keeps what was stored (persistent Vault, unsealed without a human).
    async with mesh(workdir) as (process, _):
        assert await asyncio.to_thread(read_as_slack, workdir, vault_addr(workdir)) == "xoxb-kept"
        # The authorization server kept its keys (and its port: the issuer): a token from
        # the previous run is still accepted.
        assert await initialize_status(filesystem_url(workdir), token) == 200
        pids = backend_pids(workdir)
        # A crash of the whole job (mcpmesh up and its services): nothing gets to stop
        # the backends, which run in sessions of their own.
        os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    assert await gone(pids, 1) == list(pids), "the backends outlive a killed run"

    # The next run stops the leftovers (saying so) and takes the data directories over.
    async with mesh(workdir) as (process, errors):
        assert await gone(pids, 1) == []
        said = "".join(errors)
        for name in ("postgres", "vault", "nats-server", "authserver"):
            assert f"stopping the {name}" in said and "did not stop cleanly" in said, said
        assert await asyncio.to_thread(read_as_slack, workdir, vault_addr(workdir)) == "xoxb-kept"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 60) == 0


@pytest.mark.timeout(120)
async def test_a_stale_postmaster_pid_is_recovered(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lock whose PID is gone, or now belongs to another program (PostgreSQL then
    refuses to start), is removed with a message."""
    from mcpmesh.embedded.postgres import start_postgres

    cluster = await start_postgres(workdir)
    await cluster.stop()
    data = workdir / "postgres" / "data"
    other = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        (data / "postmaster.pid").write_text(f"{other.pid}\n{data}\n0\n0\n\n\n\n")
        cluster = await start_postgres(workdir)
        assert f"removing the stale {data / 'postmaster.pid'}" in capsys.readouterr().err
        assert await cluster.psql("SELECT 1;") == "1\n"
        await cluster.stop()
    finally:
        other.kill()
        await other.wait()
