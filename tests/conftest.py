"""Fixtures shared by the cross-cutting tests."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_SUMMARY_LINE = re.compile(
    r"^[✓✗] (?P<scenario>[\w.-]+): (?P<passed>\d+) passed, (?P<failed>\d+) failed", re.M
)
_TOTAL_LINE = re.compile(r"^Total: (?P<passed>\d+) passed, (?P<failed>\d+) failed", re.M)
_UNSCORED_LINE = re.compile(r"^  [✓✗] (?P<scenario>[\w./-]+) \((?P<reason>[\w-]+)\)$", re.M)


class Conformance:
    """The official conformance CLIs (pinned in tools/conformance, installed by
    ``make setup``) on the local Node 22."""

    def __init__(self, tools: Path) -> None:
        self.node = tools / ".bin" / "node"
        self.v0_1 = tools / "conformance-0.1" / "dist" / "index.js"
        self.v0_2 = tools / "conformance-0.2" / "dist" / "index.js"

    @property
    def installed(self) -> bool:
        return self.node.exists() and self.v0_1.exists() and self.v0_2.exists()

    def run(self, cli: Path, *args: str) -> tuple[int, str]:
        completed = subprocess.run(
            [str(self.node), str(cli), "server", *args],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "NO_COLOR": "1"},
        )
        return completed.returncode, completed.stdout + completed.stderr

    def passes(self, cli: Path, *args: str) -> dict[str, tuple[int, int]]:
        """Run the suite; fail the test on any failed check. Returns (passed, failed)
        per scenario."""
        code, output = self.run(cli, *args)
        results = {
            m["scenario"]: (int(m["passed"]), int(m["failed"]))
            for m in _SUMMARY_LINE.finditer(output)
        }
        total = _TOTAL_LINE.search(output)
        assert total is not None, output[-3000:]
        failed = {name: result for name, result in results.items() if result[1]}
        assert code == 0 and int(total["failed"]) == 0 and not failed, (failed, output[-6000:])
        assert int(total["passed"]) > 0
        return results

    def requirements(
        self, cli: Path, revision: str, *args: str
    ) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[str, tuple[int, int]]]]:
        """Run a ``--requirements`` set: every scored check must pass (the CLI's exit
        code says so, and no scored scenario may show a failure). Returns the scored
        results and the unscored ones with the suite's reason (extension, pending)."""
        code, output = self.run(cli, *args, "--requirements", revision)
        results = {
            m["scenario"]: (int(m["passed"]), int(m["failed"]))
            for m in _SUMMARY_LINE.finditer(output)
        }
        unscored = {m["scenario"]: m["reason"] for m in _UNSCORED_LINE.finditer(output)}
        scored = {name: result for name, result in results.items() if name not in unscored}
        failed = {name: result for name, result in scored.items() if result[1]}
        assert code == 0 and scored and not failed, (failed, output[-6000:])
        return scored, {name: (reason, results[name]) for name, reason in unscored.items()}


@pytest.fixture(scope="session")
def conformance() -> Conformance:
    cli = Conformance(ROOT / "tools" / "conformance" / "node_modules")
    if not cli.installed:
        pytest.skip(
            "the conformance CLIs and Node 22 are not installed in tools/conformance: "
            "run `make setup`"
        )
    return cli
