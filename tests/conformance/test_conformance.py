"""The official MCP conformance suite against the fixture service, run as a user would:
``mcpmesh serve fixture`` in its own process, the npm CLIs (pinned in
tools/conformance/package.json, installed by ``make setup``) on a local Node 22."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpmesh.embedded.process import free_port

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


@pytest.fixture(scope="module")
def fixture_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcpmesh", "serve", "fixture", "--port", str(port)],
        stderr=subprocess.PIPE,
        env={**os.environ, "MCPMESH_LOG_LEVEL": "warning"},
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(
                    f"fixture service did not start: {process.stderr.read().decode()[-2000:]}"
                )
            time.sleep(0.05)
    yield f"http://localhost:{port}/mcp"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, "the service must exit 0 on SIGTERM"


def run_cli(cli: Path, *args: str) -> tuple[int, str]:
    completed = subprocess.run(
        [str(NODE), str(cli), "server", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return completed.returncode, completed.stdout + completed.stderr


def scenario_results(output: str) -> dict[str, tuple[int, int]]:
    return {
        m["scenario"]: (int(m["passed"]), int(m["failed"])) for m in SUMMARY_LINE.finditer(output)
    }


def assert_all_passed(code: int, output: str) -> dict[str, tuple[int, int]]:
    total = TOTAL_LINE.search(output)
    assert total is not None, output[-3000:]
    failed = {name: r for name, r in scenario_results(output).items() if r[1]}
    assert code == 0 and int(total["failed"]) == 0 and not failed, (failed, output[-6000:])
    assert int(total["passed"]) > 0
    return scenario_results(output)


def test_suite_0_1_all(fixture_url: str) -> None:
    """npm latest (0.1.16), every scenario it has."""
    results = assert_all_passed(*run_cli(CLI_0_1, "--url", fixture_url, "--suite", "all"))
    assert len(results) >= 30
    assert results["server-sse-polling"][0] >= 3  # pending scenario, really exercised
    assert results["dns-rebinding-protection"] == (2, 0)


def test_suite_0_2_requirements_2025_11_25(fixture_url: str) -> None:
    """0.2.0-alpha.12, exactly the frozen required set of the 2025-11-25 wire."""
    assert_all_passed(*run_cli(CLI_0_2, "--url", fixture_url, "--requirements", "2025-11-25"))


def test_suite_0_2_all_for_2025_11_25(fixture_url: str) -> None:
    """0.2.0-alpha.12, every scenario for 2025-11-25: pending and unscored ones included."""
    code, output = run_cli(
        CLI_0_2, "--url", fixture_url, "--suite", "all", "--spec-version", "2025-11-25"
    )
    results = assert_all_passed(code, output)
    for scenario in ("server-sse-polling", "json-schema-2020-12", "server-session-lifecycle"):
        passed, failed = results[scenario]
        assert passed >= 3 and failed == 0, (scenario, passed, failed)
