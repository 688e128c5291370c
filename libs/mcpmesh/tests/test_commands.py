"""The operator's commands as a user types them: ``--version``, ``tools``, ``status``,
``serve --help``, and the hints that must run as printed."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from mcpmesh import Service
from mcpmesh.commands.hints import mcpmesh_command
from mcpmesh.commands.status import STATE_FILE
from mcpmesh.config import ServerSettings
from mcpmesh.testing import serve_in_background


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcpmesh", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


async def acli(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


def test_version() -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"mcpmesh {version('mcpmesh')}"


def test_serve_help_names_a_command_that_exists() -> None:
    text = cli("serve", "--help").stdout
    assert "--list" not in text
    for command in ("mcpmesh tools",):
        assert command in text
        assert cli(*shlex.split(command)[1:]).returncode == 0


def test_tools_lists_every_installed_tool_with_access_and_scopes() -> None:
    done = cli("tools", "--json", env={"MCPMESH_PG_WRITE": "false"})
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    by_name = {(r["service"], r["tool"]): r for r in rows}
    assert {"filesystem", "github", "postgres", "slack", "fixture"} <= {r["service"] for r in rows}
    assert by_name[("postgres", "query")] == {
        "service": "postgres",
        "tool": "query",
        "access": "read",
        "scopes": ["postgres:read"],
    }
    assert all(r["access"] == "read" for r in rows if r["service"] == "postgres")


def test_tools_shows_write_tools_when_the_switch_is_on() -> None:
    done = cli("tools", "filesystem", env={"MCPMESH_FS_WRITE": "true"})
    assert done.returncode == 0, done.stderr
    writes = [line.split() for line in done.stdout.splitlines() if " write " in f" {line} "]
    assert writes and all(parts[2] == "filesystem:write" for parts in writes)
    assert cli("tools", "nosuch").returncode == 2


def test_hint_runs_as_typed(tmp_path: Path) -> None:
    command = mcpmesh_command()
    done = subprocess.run(
        [*shlex.split(command), "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.startswith("mcpmesh ")
    # From elsewhere, a path still resolves: absolute, since the venv is not below.
    elsewhere = mcpmesh_command(cwd=tmp_path)
    assert Path(shlex.split(elsewhere)[0]).is_absolute() or elsewhere == "mcpmesh"


async def test_status_reports_readiness_and_why_not(tmp_path: Path) -> None:
    ready = Service("steady", version="0", settings=ServerSettings())
    waiting = Service("waiting", version="0", settings=ServerSettings())

    @waiting.readiness("backend")
    async def backend(_state: object) -> str | None:
        return "database is still starting"

    async with serve_in_background(ready) as one, serve_in_background(waiting) as two:
        state = {"services": {"steady": one.url, "waiting": two.url}, "backends": {}}
        (tmp_path / STATE_FILE).write_text(json.dumps(state))
        env = {"MCPMESH_WORKDIR": str(tmp_path), "MCPMESH_VAULT_ADDR": ""}
        code, out, err = await acli("status", "--json", env=env)
        assert code == 1, err  # a service is not ready
        status = json.loads(out)
        rows = {row["service"]: row for row in status["services"]}
        assert rows["steady"]["ready"] and rows["steady"]["url"] == one.url
        assert not rows["waiting"]["ready"] and rows["waiting"]["healthy"]
        assert rows["waiting"]["problems"] == {"backend": "database is still starting"}
        assert status["audit"] == "no bus"
        code, out, _ = await acli("status", env=env)
        assert "waiting      NOT READY" in out and "backend: database is still starting" in out
    code, out, _ = await acli("status", "--json", env=env)
    assert code == 1 and not any(row["healthy"] for row in json.loads(out)["services"])


def test_status_without_a_mesh_says_how_to_start_one(tmp_path: Path) -> None:
    done = cli("status", env={"MCPMESH_WORKDIR": str(tmp_path)})
    assert done.returncode == 2 and "make run" in done.stderr


@pytest.mark.parametrize("argv", [("secrets", "list", "--help"), ("secrets", "delete", "--help")])
def test_secret_commands_have_help(argv: tuple[str, ...]) -> None:
    assert "--for" in cli(*argv).stdout
