"""Settings from MCPMESH_SLACK_… variables, and the allowlist as an operator writes it."""

from __future__ import annotations

import pytest
from slack_double import SlackDouble
from slack_harness import Harness, accept

from mcpmesh.config import SettingsError, load_settings
from mcpmesh.testing import text_of
from mcpmesh_slack.settings import PREFIX, SlackSettings


def test_settings_from_the_environment() -> None:
    env = {
        "MCPMESH_SLACK_WRITE": "true",
        "MCPMESH_SLACK_WRITE_CHANNELS": "C0GENERAL, #ops",
        "MCPMESH_SLACK_CONFIRM_WRITES": "0",
        "MCPMESH_SLACK_MAX_RETRY_WAIT": "2.5",
        "MCPMESH_SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    settings = load_settings(SlackSettings, prefix=PREFIX, env=env)
    assert settings.write is True and settings.confirm_writes is False
    assert settings.write_channels == ["C0GENERAL", "#ops"]
    assert settings.max_retry_wait == 2.5
    assert load_settings(SlackSettings, prefix=PREFIX, env={}).write is False


def test_a_bad_setting_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="MCPMESH_SLACK_"):
        load_settings(SlackSettings, prefix=PREFIX, env={"MCPMESH_SLACK_MAX_PAGES": "many"})


async def test_unreachable_slack_is_explained(harness: Harness, slack: SlackDouble) -> None:
    async with harness.client(api_url="http://127.0.0.1:9/api/", timeout=2) as session:
        result = await session.call_tool("list_users", {})
    assert result.is_error and "Could not reach Slack at http://127.0.0.1:9/api/" in text_of(result)


async def test_allowlisted_name_needs_a_describable_channel(
    harness: Harness, slack: SlackDouble
) -> None:
    """With names in the allowlist, a channel Slack will not describe is refused."""
    slack.tokens["xoxb-1111-2222-doubletoken"].scopes.discard("channels:read")
    async with harness.client(write=True, write_channels=["general"], elicit=accept()) as session:
        result = await session.call_tool("post_message", {"channel_id": "C0GENERAL", "text": "x"})
    assert result.is_error
    assert "Cannot check channel C0GENERAL against the write allowlist" in text_of(result)
    assert "channels:read" in text_of(result)
    assert not slack.calls("chat.postMessage")
