"""The official conformance suite through a round-robin proxy in front of three replicas:
everything that passes against one replica passes through three, sampling and
elicitation included (their answers land on whichever replica the proxy picks)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.conformance
Conformance = Any  # the `conformance` fixture (tests/conftest.py)
Mesh = Any  # the `mesh` fixture (tests/replicas/conftest.py)


def spread(mesh: Mesh, start: int) -> set[str]:
    """The replicas that served requests since ``start`` (the proxy's log)."""
    return {backend for _, _, backend in mesh.proxy.served[start:]}


def test_suite_0_1_all_through_three_replicas(mesh: Mesh, conformance: Conformance) -> None:
    start = len(mesh.proxy.served)
    results = conformance.passes(conformance.v0_1, "--url", mesh.proxy.url, "--suite", "all")
    assert len(results) >= 30
    for scenario in ("tools-call-sampling", "tools-call-elicitation", "server-sse-polling"):
        assert results[scenario][0] >= 1 and results[scenario][1] == 0, scenario
    assert results["dns-rebinding-protection"] == (2, 0)
    assert len(spread(mesh, start)) == 3, "the proxy must have used every replica"


def test_suite_0_2_requirements_through_three_replicas(
    mesh: Mesh, conformance: Conformance
) -> None:
    conformance.passes(conformance.v0_2, "--url", mesh.proxy.url, "--requirements", "2025-11-25")


def test_suite_0_2_all_through_three_replicas(mesh: Mesh, conformance: Conformance) -> None:
    results = conformance.passes(
        conformance.v0_2, "--url", mesh.proxy.url, "--suite", "all", "--spec-version", "2025-11-25"
    )
    for scenario in ("server-sse-polling", "server-session-lifecycle"):
        passed, failed = results[scenario]
        assert passed >= 3 and failed == 0, (scenario, passed, failed)


def test_suite_0_2_requirements_2026_07_28_through_three_replicas(
    mesh: Mesh, conformance: Conformance
) -> None:
    """The stateless wire through the round-robin proxy: an MRTR retry lands on another
    replica than the round that asked (they share the seal key), and a listen stream
    hears a list change made on another replica (over the bus)."""
    start = len(mesh.proxy.served)
    scored, unscored = conformance.requirements(
        conformance.v0_2, "2026-07-28", "--url", mesh.proxy.url
    )
    assert len(scored) >= 37 and scored["server-stateless"][0] >= 30
    for scenario in ("json-schema-2020-12", "http-header-validation"):
        assert unscored[scenario][1][1] == 0, scenario
    assert unscored["http-custom-header-server-validation"][1][1] == 0
    assert len(spread(mesh, start)) == 3, "the proxy must have used every replica"
