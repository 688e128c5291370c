"""Fixtures: the Slack double with a small workspace, and a harness to start the service.

The tests directory goes on ``sys.path`` so the double and the helpers import by name
(pytest runs with ``--import-mode=importlib``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from slack_double import SlackDouble
from slack_harness import Harness, workspace


@pytest.fixture
async def slack() -> AsyncIterator[SlackDouble]:
    double = SlackDouble()
    workspace(double)
    async with double.serve():
        yield double
    assert not double.unknown_args, (
        f"the service sent arguments Slack does not take: {double.unknown_args}"
    )


@pytest.fixture
def harness(slack: SlackDouble) -> Harness:
    return Harness(slack)
