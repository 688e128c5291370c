"""Writing to Slack: off by default, allowlisted channels, confirmation by elicitation."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError
from slack_double import SlackDouble
from slack_harness import Harness, accept, decline

from mcpmesh.testing import text_of
from mcpmesh_slack.service import create
from mcpmesh_slack.settings import SlackSettings

WRITES = ("chat.postMessage", "reactions.add")


def written(slack: SlackDouble) -> list[str]:
    return [r.method for r in slack.requests if r.method in WRITES]


async def test_writes_are_off_by_default(harness: Harness, slack: SlackDouble) -> None:
    async with harness.client(elicit=accept()) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert not names & {"post_message", "reply_to_thread", "add_reaction"}
        with pytest.raises(MCPError, match="Unknown tool: post_message"):
            await session.call_tool("post_message", {"channel_id": "C0GENERAL", "text": "hi"})
    assert not written(slack)


def test_instructions_say_whether_writing_is_enabled() -> None:
    assert "has not enabled writing" in (create(slack=SlackSettings()).instructions or "")
    enabled = create(slack=SlackSettings(write=True, write_channels=["general"])).instructions
    assert "allowlisted channels only" in (enabled or "")


async def test_post_after_confirmation(harness: Harness, slack: SlackDouble) -> None:
    confirm = accept()
    async with harness.client(write=True, elicit=confirm) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert tools["post_message"].annotations.read_only_hint is False
        result = await session.call_tool(
            "post_message", {"channel_id": "C0GENERAL", "text": "Deploy done :tada:"}
        )
    assert not result.is_error, text_of(result)
    assert confirm.questions == ["Post this message to #general (C0GENERAL)?\n\nDeploy done :tada:"]
    posted = slack.history["C0GENERAL"][-1]
    assert (
        posted["text"] == "Deploy done :tada:" and posted["ts"] == result.structured_content["ts"]
    )
    assert result.structured_content["channel_id"] == "C0GENERAL"
    assert "Posted to #general (C0GENERAL)" in text_of(result)
    args = slack.calls("chat.postMessage")[0].args
    assert args["unfurl_links"] is False, "links in posts are not unfurled (no URL fetching)"


async def test_declined_confirmation_sends_nothing(harness: Harness, slack: SlackDouble) -> None:
    target = slack.add_message("C0GENERAL", "U0ALICE", "ship it?")
    async with harness.client(write=True, elicit=decline()) as session:
        results = [
            await session.call_tool("post_message", {"channel_id": "C0GENERAL", "text": "no"}),
            await session.call_tool(
                "reply_to_thread",
                {"channel_id": "C0GENERAL", "thread_ts": target["ts"], "text": "no"},
            ),
            await session.call_tool(
                "add_reaction",
                {"channel_id": "C0GENERAL", "timestamp": target["ts"], "reaction": "x"},
            ),
        ]
    for result in results:
        assert result.is_error and text_of(result).startswith("Not done: the user declined")
    assert not written(slack)


async def test_unchecked_confirm_box_counts_as_no(harness: Harness, slack: SlackDouble) -> None:
    async with harness.client(write=True, elicit=accept({"confirm": False})) as session:
        result = await session.call_tool("post_message", {"channel_id": "C0GENERAL", "text": "x"})
    assert result.is_error and not written(slack)


async def test_a_string_true_is_not_a_yes(harness: Harness, slack: SlackDouble) -> None:
    async with harness.client(write=True, elicit=accept({"confirm": "true"})) as session:
        result = await session.call_tool("post_message", {"channel_id": "C0GENERAL", "text": "x"})
    assert result.is_error and text_of(result).startswith("Not done: ") and not written(slack)


async def test_client_without_elicitation_cannot_write(
    harness: Harness, slack: SlackDouble
) -> None:
    async with harness.client(write=True) as session:  # no elicitation callback
        result = await session.call_tool("post_message", {"channel_id": "C0GENERAL", "text": "x"})
    assert result.is_error and "confirmation" in text_of(result)
    assert not written(slack)


async def test_confirmation_can_be_turned_off(harness: Harness, slack: SlackDouble) -> None:
    async with harness.client(write=True, confirm_writes=False) as session:
        result = await session.call_tool("post_message", {"channel_id": "C0RANDOM", "text": "hi"})
    assert not result.is_error, text_of(result)
    assert written(slack) == ["chat.postMessage"]
    assert not slack.calls("conversations.info"), "no lookup when nothing needs the name"


async def test_channel_allowlist(harness: Harness, slack: SlackDouble) -> None:
    allow = ["C0GENERAL", "#random"]
    async with harness.client(write=True, write_channels=allow, elicit=accept()) as session:
        by_id = await session.call_tool("post_message", {"channel_id": "C0GENERAL", "text": "a"})
        by_name = await session.call_tool("post_message", {"channel_id": "C0RANDOM", "text": "b"})
        refused = await session.call_tool("post_message", {"channel_id": "G0SECRET", "text": "c"})
        unknown = await session.call_tool("post_message", {"channel_id": "C0NOPE", "text": "d"})
        reaction = await session.call_tool(
            "add_reaction",
            {
                "channel_id": "G0SECRET",
                "timestamp": slack.history["C0GENERAL"][-1]["ts"],
                "reaction": "eyes",
            },
        )
    assert not by_id.is_error and not by_name.is_error
    for result in (refused, reaction):
        assert result.is_error and "write allowlist" in text_of(result)
        assert "MCPMESH_SLACK_WRITE_CHANNELS" in text_of(result)
    assert unknown.is_error and "channel_not_found" in text_of(unknown)
    posted = [r.args["channel"] for r in slack.calls("chat.postMessage")]
    assert posted == ["C0GENERAL", "C0RANDOM"]
    assert not slack.calls("reactions.add")


async def test_reply_and_reaction(harness: Harness, slack: SlackDouble) -> None:
    parent = slack.add_message("C0GENERAL", "U0ALICE", "ship it?")
    confirm = accept()
    async with harness.client(write=True, elicit=confirm) as session:
        reply = await session.call_tool(
            "reply_to_thread",
            {"channel_id": "C0GENERAL", "thread_ts": parent["ts"], "text": "shipped"},
        )
        reaction = await session.call_tool(
            "add_reaction",
            {"channel_id": "C0GENERAL", "timestamp": parent["ts"], "reaction": ":rocket:"},
        )
        again = await session.call_tool(
            "add_reaction",
            {"channel_id": "C0GENERAL", "timestamp": parent["ts"], "reaction": "rocket"},
        )
        thread = await session.call_tool(
            "get_thread_replies", {"channel_id": "C0GENERAL", "thread_ts": parent["ts"]}
        )
    assert not reply.is_error, text_of(reply)
    assert reply.structured_content["thread_ts"] == parent["ts"]
    assert not reaction.is_error and reaction.structured_content["reaction"] == "rocket"
    assert again.is_error and "already_reacted" in text_of(again)
    assert [m["text"] for m in thread.structured_content["messages"]] == ["ship it?", "shipped"]
    assert thread.structured_content["messages"][0]["reactions"] == [{"name": "rocket", "count": 1}]
    assert (
        confirm.questions[1]
        == f"React with :rocket: to message {parent['ts']} in #general (C0GENERAL)?"
    )


async def test_write_errors_are_explained(harness: Harness, slack: SlackDouble) -> None:
    async with harness.client(write=True, confirm_writes=False) as session:
        outside = await session.call_tool("post_message", {"channel_id": "C0OUTSIDE", "text": "hi"})
        archived = await session.call_tool("post_message", {"channel_id": "C0OLD", "text": "hi"})
        slack.tokens["xoxb-1111-2222-doubletoken"].scopes.discard("chat:write")
        no_scope = await session.call_tool(
            "post_message", {"channel_id": "C0GENERAL", "text": "hi"}
        )
    assert outside.is_error and "invite it" in text_of(outside)
    assert archived.is_error and "archived" in text_of(archived)
    assert no_scope.is_error and "chat:write" in text_of(no_scope)
