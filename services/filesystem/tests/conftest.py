"""Fixtures for the filesystem service tests.

The tests directory goes on ``sys.path`` so the helpers import by name (pytest runs with
``--import-mode=importlib``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fs_harness import build_tree


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An allowed root with text, media, binary and nested files; secrets beside it."""
    return build_tree(tmp_path)
