"""The slack service through the official SDK on the 2026-07-28 stateless wire: reads,
and a post confirmed in an MRTR round (sent once, after the yes)."""

from __future__ import annotations

from slack_double import SlackDouble
from slack_harness import Harness, accept

from mcpmesh.testing import text_of


async def test_read_and_confirmed_post_on_the_2026_wire(
    harness: Harness, slack: SlackDouble
) -> None:
    confirm = accept()
    async with harness.client(write=True, elicit=confirm, modern=True) as client:
        channels = await client.call_tool("list_channels", {"limit": 5})
        assert not channels.is_error, text_of(channels)
        result = await client.call_tool(
            "post_message", {"channel_id": "C0GENERAL", "text": "Shipped on 2026-07-28"}
        )
    assert not result.is_error, text_of(result)
    assert confirm.questions == [
        "Post this message to #general (C0GENERAL)?\n\nShipped on 2026-07-28"
    ]
    assert len(slack.calls("chat.postMessage")) == 1
    assert slack.history["C0GENERAL"][-1]["text"] == "Shipped on 2026-07-28"
