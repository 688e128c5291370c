"""The Slack service's settings, from ``MCPMESH_SLACK_…`` environment variables."""

from __future__ import annotations

import msgspec

PREFIX = "MCPMESH_SLACK_"


class SlackSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Every knob of the Slack service; the README documents each one."""

    #: Base URL of Slack's Web API (tests point it at a local double).
    api_url: str = "https://slack.com/api/"
    #: Enable the write tools (post_message, reply_to_thread, add_reaction). Off by default.
    write: bool = False
    #: Channels writes may go to (IDs like C0123 or names like general); empty = any.
    write_channels: list[str] = []
    #: Ask the user to confirm every write through MCP elicitation.
    confirm_writes: bool = True
    #: Let search_messages return direct messages (DMs, group DMs) the user token can see.
    search_direct_messages: bool = False
    #: Workspace ID passed to list/search calls; only needed with org-wide tokens.
    team_id: str | None = None
    #: Items asked of Slack per request (Slack recommends at most 200).
    page_size: int = 200
    #: Slack requests one tool call may make while paginating (caps a single call's cost).
    max_pages: int = 5
    #: Retries of a rate-limited (HTTP 429) request, each after Slack's Retry-After.
    max_retries: int = 3
    #: Longest Retry-After (seconds) waited for; a longer one fails the call at once.
    max_retry_wait: float = 30.0
    #: Seconds one HTTP request to Slack may take.
    timeout: int = 30
    #: Seconds a resolved user or channel name is kept.
    name_cache_ttl: float = 3600.0
    #: Names kept in the cache at most (least recently used go first).
    name_cache_size: int = 10_000
