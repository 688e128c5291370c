"""Slack markup to plain text, and time arguments (pure functions)."""

from __future__ import annotations

import pytest

from mcpmesh_slack.markup import mentioned_users, readable_time, slack_time, to_plain

NAMES = {"U1": "alice", "W2": "bob"}


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("hi <@U1>", "hi @alice"),
        ("hi <@U1|stale-name>", "hi @alice"),
        ("hi <@U9|ghost>", "hi @ghost"),
        ("hi <@U9>", "hi @U9"),
        ("<@W2> in <#C1|general> and <#C2>", "@bob in #general and #C2"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!subteam^S1|@oncall> help", "@oncall help"),
        ("<!date^1392734382^{date_num}|2014-02-18> ok", "2014-02-18 ok"),
        ("<https://example.com>", "https://example.com"),
        (
            "<https://evil.example|https://good.example>",
            "https://good.example (https://evil.example)",
        ),
        ("<https://x.example|click &amp; go>", "click & go (https://x.example)"),
        ("<mailto:a@b.example|a@b.example>", "a@b.example"),
        ("<mailto:a@b.example|support>", "support (a@b.example)"),
        ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2"),
        ("&amp;lt;b&amp;gt;", "&lt;b&gt;"),  # decoded once, as Slack encoded once
        ("&#x202E; stays text", "&#x202E; stays text"),  # not an entity Slack makes
        ("", ""),
    ],
)
def test_to_plain(markup: str, plain: str) -> None:
    assert to_plain(markup, NAMES) == plain


def test_mentioned_users() -> None:
    assert mentioned_users("<@U1> <@W2|bob> <#C1> <@U1>") == {"U1", "W2"}


def test_times() -> None:
    assert readable_time("1700000000.000100") == "2023-11-14T22:13:20Z"
    assert readable_time("garbage") is None
    assert slack_time("1700000000.000100") == "1700000000.000100"
    assert slack_time("2023-11-14T22:13:20Z") == "1700000000.000000"
    assert slack_time("2023-11-14T23:13:20+01:00") == "1700000000.000000"
    assert slack_time("2023-11-14") == "1699920000.000000"
    with pytest.raises(ValueError, match="ISO 8601"):
        slack_time("yesterday")
