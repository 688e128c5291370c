"""With no token stored, every tool says how to store one, and Slack is never called."""

from __future__ import annotations

from slack_double import SlackDouble
from slack_harness import Harness, accept

from mcpmesh.testing import text_of

VALID_ARGUMENTS = {
    "list_channels": {},
    "get_channel_history": {"channel_id": "C0GENERAL"},
    "get_thread_replies": {"channel_id": "C0GENERAL", "thread_ts": "1700000060.000000"},
    "search_messages": {"query": "deploy"},
    "list_users": {},
    "get_user_profile": {"user_id": "U0ALICE"},
    "find_user_by_email": {"email": "alice@example.com"},
    "post_message": {"channel_id": "C0GENERAL", "text": "hi"},
    "reply_to_thread": {
        "channel_id": "C0GENERAL",
        "thread_ts": "1700000060.000000",
        "text": "hi",
    },
    "add_reaction": {
        "channel_id": "C0GENERAL",
        "timestamp": "1700000060.000000",
        "reaction": "eyes",
    },
}


async def test_every_tool_says_how_to_set_a_token(harness: Harness, slack: SlackDouble) -> None:
    confirm = accept()
    async with harness.client(tokens={}, write=True, elicit=confirm) as session:
        tools = [tool.name for tool in (await session.list_tools()).tools]
        assert sorted(tools) == sorted(VALID_ARGUMENTS)
        for name in tools:
            result = await session.call_tool(name, VALID_ARGUMENTS[name])
            assert result.is_error, name
            wanted = "user_token" if name == "search_messages" else "bot_token"
            assert f"mcpmesh secrets set slack {wanted}" in text_of(result), name
    assert not slack.requests
    assert not confirm.questions, "nobody is asked to confirm a write that cannot happen"


async def test_the_service_from_the_environment_has_no_token(
    slack: SlackDouble, monkeypatch
) -> None:
    """What `mcpmesh serve slack` builds without Vault: the dev provider, no secrets."""
    from mcpmesh.testing import sdk_session, serve_in_background
    from mcpmesh_slack.service import create

    monkeypatch.delenv("MCPMESH_VAULT_ADDR", raising=False)
    monkeypatch.setenv("MCPMESH_SLACK_API_URL", slack.url)
    async with (
        serve_in_background(create()) as running,
        sdk_session(running.url) as session,
    ):
        result = await session.call_tool("list_channels", {})
    assert result.is_error
    assert "mcpmesh secrets set slack bot_token" in text_of(result)
    assert not slack.requests
