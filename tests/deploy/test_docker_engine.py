"""With a Docker engine able to pull images: build every image, start the stack with
`docker compose up --wait`, and drive services through their published ports. Elsewhere
these skip (the offline checks in this directory still run)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from deploy_checks import COMPOSE_ENV, REPO, SERVICES, tool

from mcpmesh.testing import sdk_session

SKIP_REASON = "no Docker engine able to pull images"
PROBE_IMAGE = "python:3.11-slim-trixie"  # the base every service image starts from


@functools.cache
def engine_problem() -> str | None:
    """None when a Docker engine answers and can pull the base image, else why not."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker CLI"
    try:
        info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=20)
        if info.returncode != 0:
            return (
                info.stderr.strip().splitlines()[-1]
                if info.stderr.strip()
                else "docker info failed"
            )
        pull = subprocess.run(
            [docker, "pull", "-q", PROBE_IMAGE], capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if pull.returncode == 0 else pull.stderr.strip()[-300:]


@pytest.fixture
def engine() -> None:
    """Skips the test, naming what is missing, where no engine can pull images."""
    problem = engine_problem()
    if problem is not None:
        pytest.skip(f"{SKIP_REASON} ({problem})")


requires_engine = pytest.mark.usefixtures("engine")


def compose(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    argv = [tool("docker-compose"), "--project-directory", str(REPO), "-p", "mcpmesh-test", *args]
    return subprocess.run(
        argv,
        cwd=REPO,
        env={**os.environ, **COMPOSE_ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def stack(*profiles: str) -> Iterator[None]:
    flags = [arg for p in profiles for arg in ("--profile", p)]
    up = compose(*flags, "up", "--build", "--detach", "--wait", "--wait-timeout", "300")
    try:
        assert up.returncode == 0, up.stderr[-4000:]
        yield
    finally:
        compose(*flags, "down", "--volumes", "--remove-orphans", timeout=300)


@pytest.mark.timeout(3600)
@requires_engine
def test_every_image_builds_and_runs_as_non_root_with_a_healthcheck() -> None:
    build = compose("--profile", "tools", "build")
    assert build.returncode == 0, build.stderr[-4000:]
    for name in SERVICES:
        inspect = subprocess.run(
            [
                "docker",
                "image",
                "inspect",
                f"mcpmesh/{name}:dev",
                "--format",
                "{{.Config.User}} {{json .Config.Healthcheck.Test}}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        user, _, healthcheck = inspect.stdout.strip().partition(" ")
        assert user == "10001:10001" and "/healthz" in healthcheck


@pytest.mark.timeout(3600)
@requires_engine
async def test_stack_comes_up_and_services_answer_the_sdk_client() -> None:
    with stack():
        for name, port in SERVICES.items():
            async with sdk_session(f"http://localhost:{port}/mcp") as session:
                init = session.initialize_result
                assert init is not None and init.server_info.name == name
                assert (await session.list_tools()).tools


@pytest.mark.timeout(3600)
@requires_engine
async def test_replicas_behind_the_round_robin_balancer_share_sessions() -> None:
    with stack("replicas"):
        async with sdk_session("http://localhost:8710/mcp") as session:
            # Consecutive requests land on different replicas; the session holds.
            for _ in range(6):
                assert (await session.list_tools()).tools
