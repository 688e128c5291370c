"""The official conformance suite through a round-robin proxy in front of three replicas:
everything that passes against one replica passes through three, sampling and
elicitation included (their answers land on whichever replica the proxy picks)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any as Mesh  # the `mesh` fixture (tests/replicas/conftest.py)

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools" / "conformance" / "node_modules"
NODE = TOOLS / ".bin" / "node"
CLI_0_1 = TOOLS / "conformance-0.1" / "dist" / "index.js"
CLI_0_2 = TOOLS / "conformance-0.2" / "dist" / "index.js"

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(
        not (NODE.exists() and CLI_0_1.exists() and CLI_0_2.exists()),
        reason="the conformance CLIs and Node 22 are not installed in tools/conformance: run `make setup`",
    ),
]

SUMMARY_LINE = re.compile(
    r"^[✓✗] (?P<scenario>[\w.-]+): (?P<passed>\d+) passed, (?P<failed>\d+) failed", re.M
)
TOTAL_LINE = re.compile(r"^Total: (?P<passed>\d+) passed, (?P<failed>\d+) failed", re.M)


def run_cli(cli: Path, *args: str) -> tuple[int, str]:
    completed = subprocess.run(
        [str(NODE), str(cli), "server", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return completed.returncode, completed.stdout + completed.stderr


def assert_all_passed(code: int, output: str) -> dict[str, tuple[int, int]]:
    results = {
        m["scenario"]: (int(m["passed"]), int(m["failed"])) for m in SUMMARY_LINE.finditer(output)
    }
    total = TOTAL_LINE.search(output)
    assert total is not None, output[-3000:]
    failed = {name: r for name, r in results.items() if r[1]}
    assert code == 0 and int(total["failed"]) == 0 and not failed, (failed, output[-6000:])
    return results


def spread(mesh: Mesh, start: int) -> set[str]:
    """The replicas that served requests since ``start`` (the proxy's log)."""
    return {backend for _, _, backend in mesh.proxy.served[start:]}


def test_suite_0_1_all_through_three_replicas(mesh: Mesh) -> None:
    start = len(mesh.proxy.served)
    results = assert_all_passed(*run_cli(CLI_0_1, "--url", mesh.proxy.url, "--suite", "all"))
    assert len(results) >= 30
    for scenario in ("tools-call-sampling", "tools-call-elicitation", "server-sse-polling"):
        assert results[scenario][0] >= 1 and results[scenario][1] == 0, scenario
    assert results["dns-rebinding-protection"] == (2, 0)
    assert len(spread(mesh, start)) == 3, "the proxy must have used every replica"


def test_suite_0_2_requirements_through_three_replicas(mesh: Mesh) -> None:
    assert_all_passed(*run_cli(CLI_0_2, "--url", mesh.proxy.url, "--requirements", "2025-11-25"))


def test_suite_0_2_all_through_three_replicas(mesh: Mesh) -> None:
    code, output = run_cli(
        CLI_0_2, "--url", mesh.proxy.url, "--suite", "all", "--spec-version", "2025-11-25"
    )
    results = assert_all_passed(code, output)
    for scenario in ("server-sse-polling", "server-session-lifecycle"):
        passed, failed = results[scenario]
        assert passed >= 3 and failed == 0, (scenario, passed, failed)
