"""The write switch: ``MCPMESH_GH_WRITE`` (off by default); the old inverted name
``MCPMESH_GH_READ_ONLY`` keeps working, with a logged deprecation warning."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from mcpmesh.config import SettingsError
from mcpmesh_github.service import create
from mcpmesh_github.settings import load_github_settings

ALLOWED = {"MCPMESH_GH_ALLOWED_REPOS": '["octo-org/*"]'}


def test_writes_are_off_unless_switched_on() -> None:
    assert load_github_settings(ALLOWED).write is False
    assert load_github_settings(ALLOWED | {"MCPMESH_GH_WRITE": "true"}).write is True


def test_the_old_read_only_name_still_works_and_warns() -> None:
    with capture_logs() as logs:
        settings = load_github_settings(ALLOWED | {"MCPMESH_GH_READ_ONLY": "false"})
    assert settings.write is True
    warning = next(e for e in logs if e["event"] == "deprecated_setting")
    assert warning["log_level"] == "warning"
    assert warning["setting"] == "MCPMESH_GH_READ_ONLY"
    assert warning["use"] == "MCPMESH_GH_WRITE=true"
    with capture_logs():
        assert load_github_settings({"MCPMESH_GH_READ_ONLY": "true"}).write is False


def test_the_new_name_wins_over_the_old_one() -> None:
    env = {"MCPMESH_GH_READ_ONLY": "false", "MCPMESH_GH_WRITE": "false"}
    with capture_logs() as logs:
        assert load_github_settings(env).write is False
    assert next(e for e in logs if e["event"] == "deprecated_setting")["ignored"] is True


def test_a_bad_old_value_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="MCPMESH_GH_READ_ONLY"):
        load_github_settings({"MCPMESH_GH_READ_ONLY": "maybe"})


def test_the_service_reads_the_switch_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MCPMESH_GH_WRITE", "true")
    assert "merge_pull_request" in create().tools
    monkeypatch.setenv("MCPMESH_GH_WRITE", "false")
    assert "merge_pull_request" not in create().tools
