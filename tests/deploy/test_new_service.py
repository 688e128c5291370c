"""`mcpmesh new-service`: a new service generated into a copy of the repository runs its
tests, installs as its image would, serves, answers the official SDK client, and leaves
docker-compose.yml and deploy/k8s valid."""

from __future__ import annotations

import asyncio
import difflib
import os
import shutil
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from deploy_checks import (
    K8S_VERSION,
    REPO,
    build_context,
    compose_model,
    k8s_copy,
    kubernetes_api_object,
    kustomize,
    pod_spec,
    run,
)
from test_dockerfile import UV, install_like_the_image

from mcpmesh.embedded.process import free_port, port_open
from mcpmesh.scaffold import (
    FIRST_PORT,
    MAX_NAME_LENGTH,
    ScaffoldError,
    choose_port,
    new_service,
    plan,
    service_ports,
    used_ports,
)
from mcpmesh.testing import eventually, sdk_session

COPY_SKIP = shutil.ignore_patterns(
    ".git", ".venv", ".cache", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO, root, ignore=COPY_SKIP)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize(
    "name",
    [
        "Bad",
        "two--hyphens",
        "-lead",
        "trail-",
        "with_underscore",
        "1st",
        "",
        "a" * 31,
        "vault",
        "nats",
        "postgresql",
        "class",
        "filesystem",
        "fixture",
        "../escape",
        "a/b",
    ],
)
def test_bad_or_taken_names_change_nothing(checkout: Path, name: str) -> None:
    before = snapshot(checkout)
    with pytest.raises(ScaffoldError):
        new_service(name, root=checkout, out=lambda _: None)
    assert snapshot(checkout) == before


def test_an_existing_service_is_never_overwritten(checkout: Path) -> None:
    new_service("notes", root=checkout, out=lambda _: None)
    marker = checkout / "services/notes/src/mcpmesh_notes/service.py"
    marker.write_text("# mine\n")
    before = snapshot(checkout)
    with pytest.raises(ScaffoldError, match="never overwritten"):
        new_service("notes", root=checkout, out=lambda _: None)
    assert snapshot(checkout) == before
    # A name only docker-compose.yml knows is refused as well, before anything is written.
    compose = checkout / "docker-compose.yml"
    marker = "  # mcpmesh new-service adds services above this line."
    compose.write_text(compose.read_text().replace(marker, "  lonely:\n    image: x\n\n" + marker))
    before = snapshot(checkout)
    with pytest.raises(ScaffoldError, match=r"docker-compose\.yml already has"):
        new_service("lonely", root=checkout, out=lambda _: None)
    assert snapshot(checkout) == before


def test_ports_are_unique_and_next_steps_are_printed(checkout: Path) -> None:
    taken = used_ports(checkout)
    printed: list[str] = []
    first = new_service("alpha", root=checkout, out=printed.append)
    second = new_service("beta", root=checkout, out=printed.append)
    assert FIRST_PORT <= first.port < second.port
    assert not {first.port, second.port} & taken
    assert service_ports(checkout) == {
        **service_ports(REPO),
        "alpha": first.port,
        "beta": second.port,
    }
    assert f"mcpmesh serve alpha --port {first.port}" in printed[0]
    assert "uv sync" in printed[0] and "pytest services/alpha" in printed[0]
    with pytest.raises(ScaffoldError, match="already"):
        plan("gamma", checkout, port=first.port)


@pytest.mark.parametrize("name", ["a", "abcdefghij-klmnopqrst-uvwxyz12"])
def test_generated_code_passes_make_lint_whatever_the_name_length(
    checkout: Path, name: str
) -> None:
    """Names change line lengths: the generated code must be formatted and typed for the
    shortest and the longest name alike, so `make lint` stays green after new-service."""
    assert len(name) in (1, MAX_NAME_LENGTH)
    new_service(name, root=checkout, out=lambda _: None)
    target = f"services/{name}"
    bin_dir = Path(sys.executable).parent
    for argv in (
        [str(bin_dir / "ruff"), "check", target],
        [str(bin_dir / "ruff"), "format", "--check", "--diff", target],
        [str(bin_dir / "mypy"), "--no-incremental", f"{target}/src"],
    ):
        result = run(argv, checkout, timeout=300)
        assert result.returncode == 0, " ".join(argv[1:]) + "\n" + result.stdout + result.stderr


@pytest.mark.timeout(900)
async def test_generated_service_end_to_end(checkout: Path, tmp_path: Path) -> None:
    port = choose_port(checkout)
    cli = await asyncio.to_thread(
        run,
        [sys.executable, "-m", "mcpmesh", "new-service", "word-tools"],
        cwd=checkout / "services",  # found from inside the checkout
    )
    assert cli.returncode == 0, cli.stderr
    assert "Next steps" in cli.stdout
    service_dir = checkout / "services" / "word-tools"
    assert (service_dir / "src/mcpmesh_word_tools/service.py").is_file()

    # Its own tests (through the SDK client) pass.
    tests = await asyncio.to_thread(
        run,
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "services/word-tools"],
        checkout,
        {"PYTHONPATH": str(service_dir / "src")},
        600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "4 passed" in tests.stdout

    # The workspace picks it up: the lock gains it, and the image's install step works.
    if not UV.is_file():
        pytest.skip(f"uv is not installed at {UV} (make setup installs it)")
    before = (checkout / "uv.lock").read_text().splitlines()
    lock = await asyncio.to_thread(
        run, [str(UV), "lock", "--offline"], checkout, {"UV_PYTHON": sys.executable}, 600
    )
    # `make setup` fills uv's index cache (`uv lock --check --refresh`); without it this
    # offline resolution cannot work.
    assert lock.returncode == 0, "run `make setup` first\n" + lock.stderr[-3000:]
    after = (checkout / "uv.lock").read_text().splitlines()
    # Adding a service only adds its own lines: the committed lock is in uv's own form.
    changes = [line for line in difflib.ndiff(before, after) if line[:1] in "+-"]
    assert changes and all(line.startswith("+ ") for line in changes), changes[:20]
    assert '+ name = "mcpmesh-word-tools"' in changes
    context = tmp_path / "context"
    await asyncio.to_thread(build_context, checkout, context)
    venv = tmp_path / "venv"
    install = await asyncio.to_thread(install_like_the_image, context, "mcpmesh-word-tools", venv)
    assert install.returncode == 0, install.stderr[-3000:]

    # Served by its entry point, driven by the official SDK client.
    serve_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMESH_")}
    process = await asyncio.create_subprocess_exec(
        str(venv / "bin" / "mcpmesh"),
        "serve",
        "word-tools",
        "--port",
        str(serve_port),
        env={**env, "MCPMESH_WORKDIR": str(tmp_path / "work")},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = f"http://localhost:{serve_port}/mcp"

        async def listening() -> bool:
            if process.returncode is not None:
                pytest.fail("the generated service exited before it listened")
            return await port_open("127.0.0.1", serve_port)

        await eventually(listening, timeout=10, message="the generated service never listened")
        async with sdk_session(url) as session:
            init = session.initialize_result
            assert init is not None and init.server_info.name == "word-tools"
            result = await session.call_tool("count_words", {"text": "a b c"})
            assert result.structured_content == {"words": 3, "lines": 1, "characters": 5}
    finally:
        if process.returncode is None:
            process.terminate()
        _, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]

    # The checkout's own cross-cutting deployment tests take it in and stay green.
    deploy_tests = await asyncio.to_thread(
        run,
        [
            sys.executable,
            "-m",
            "pytest",
            "-v",
            "-p",
            "no:cacheprovider",
            "-k",
            "word-tools or prod",
            "tests/deploy/test_compose.py",
            "tests/deploy/test_kubernetes.py",
        ],
        checkout,
        None,
        600,
    )
    assert deploy_tests.returncode == 0, deploy_tests.stdout[-3000:]
    assert "[word-tools] PASSED" in deploy_tests.stdout, deploy_tests.stdout[-3000:]

    # docker-compose.yml and deploy/k8s stay valid with it added.
    model = compose_model(checkout)
    added = model["services"]["word-tools"]
    assert added["build"]["args"] == {"SERVICE": "word-tools", "PORT": str(port)}
    assert [(p["host_ip"], p["target"]) for p in added["ports"]] == [("127.0.0.1", port)]
    assert added["read_only"] is True and added["cap_drop"] == ["ALL"]
    k8s = k8s_copy(checkout, tmp_path)
    for target in ("base", "overlays/dev", "overlays/prod"):
        rendered = kustomize(k8s / target)
        for obj in filter(kubernetes_api_object, rendered):  # the PodMonitor: a CRD
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        (deployment,) = [
            o
            for o in rendered
            if o["kind"] == "Deployment" and o["metadata"]["name"] == "mcpmesh-word-tools"
        ]
        container = pod_spec(deployment)["containers"][0]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
