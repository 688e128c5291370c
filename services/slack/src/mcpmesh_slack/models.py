"""Tool arguments and results: the tools' input and output schemas come from these Structs.

Argument names follow Slack's own (``channel_id``, ``thread_ts``, ``cursor``) as the
reference Slack MCP server does, so prompts written for it keep working.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from mcpmesh.guard.sanitize import TrustLabel, trust_label

_STRICT = {"kw_only": True, "forbid_unknown_fields": True}

ChannelId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[CGD][A-Z0-9]{2,}$",
        description="Slack channel ID, e.g. C0123456789 (list_channels shows them)",
    ),
]
UserId = Annotated[
    str, msgspec.Meta(pattern=r"^[UW][A-Z0-9]{2,}$", description="Slack user ID, e.g. U0123456789")
]
SlackTs = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{9,11}\.\d{6}$",
        description="Slack message timestamp (its ID), e.g. 1700000000.000100",
    ),
]
Cursor = Annotated[
    str | None,
    msgspec.Meta(description="next_cursor of the previous call, to continue; omit to start"),
]
TimeArg = Annotated[
    str | None,
    msgspec.Meta(description="A Slack timestamp or ISO 8601 time, e.g. 2024-05-01T09:30:00Z"),
]
MessageText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=40_000, description="Message text (Slack mrkdwn)")
]


def _limit(default_max: int, description: str) -> object:
    return msgspec.Meta(ge=1, le=default_max, description=description)


# ------------------------------------------------------------------ arguments


class ListChannelsArgs(msgspec.Struct, **_STRICT):
    limit: Annotated[int, _limit(1000, "Channels to return")] = 100
    cursor: Cursor = None
    include_private: Annotated[
        bool, msgspec.Meta(description="Also private channels the app is in (needs groups:read)")
    ] = False
    include_archived: bool = False


class ChannelHistoryArgs(msgspec.Struct, **_STRICT):
    channel_id: ChannelId
    limit: Annotated[int, _limit(1000, "Messages to return, newest first")] = 20
    cursor: Cursor = None
    oldest: TimeArg = None
    latest: TimeArg = None


class ThreadRepliesArgs(msgspec.Struct, **_STRICT):
    channel_id: ChannelId
    thread_ts: SlackTs
    limit: Annotated[int, _limit(1000, "Messages to return, the parent first")] = 50
    cursor: Cursor = None


class SearchArgs(msgspec.Struct, **_STRICT):
    query: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=1000,
            description="Slack search query, modifiers allowed (in:#general from:@alice after:2024-01-01)",
        ),
    ]
    count: Annotated[int, _limit(100, "Matches per page")] = 20
    page: Annotated[int, msgspec.Meta(ge=1, le=100, description="Page of matches, from 1")] = 1
    sort: Literal["score", "timestamp"] = "score"
    sort_dir: Literal["asc", "desc"] = "desc"


class ListUsersArgs(msgspec.Struct, **_STRICT):
    limit: Annotated[int, _limit(1000, "Users to return")] = 100
    cursor: Cursor = None


class UserArgs(msgspec.Struct, **_STRICT):
    user_id: UserId


class EmailArgs(msgspec.Struct, **_STRICT):
    email: Annotated[
        str,
        msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254, description="Email address"),
    ]


class PostArgs(msgspec.Struct, **_STRICT):
    channel_id: ChannelId
    text: MessageText


class ReplyArgs(msgspec.Struct, **_STRICT):
    channel_id: ChannelId
    thread_ts: SlackTs
    text: MessageText


class ReactionArgs(msgspec.Struct, **_STRICT):
    channel_id: ChannelId
    timestamp: SlackTs
    reaction: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^:?[a-z0-9_+'-]{1,100}:?$",
            description="Emoji name without colons, e.g. thumbsup",
        ),
    ]


# ------------------------------------------------------------------ results


def _trust(*fields: str) -> Any:
    """A ``trust`` field: which fields hold text Slack users wrote (cf. IFC labels)."""
    return msgspec.field(default_factory=lambda: trust_label(*fields))


class Channel(msgspec.Struct, kw_only=True):
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    num_members: int | None = None
    topic: str = ""
    purpose: str = ""


class ChannelList(msgspec.Struct, kw_only=True):
    channels: list[Channel]
    next_cursor: str | None = None
    trust: TrustLabel = _trust("channels[].name", "channels[].topic", "channels[].purpose")


class Reaction(msgspec.Struct):
    name: str
    count: int


class Message(msgspec.Struct, kw_only=True):
    ts: str
    time: str | None = None
    user_id: str | None = None
    user: str | None = None
    text: str = ""
    thread_ts: str | None = None
    reply_count: int | None = None
    subtype: str | None = None
    reactions: list[Reaction] = []
    channel_id: str | None = None
    channel: str | None = None
    permalink: str | None = None


class MessageList(msgspec.Struct, kw_only=True):
    channel_id: str
    messages: list[Message]
    next_cursor: str | None = None
    trust: TrustLabel = _trust("messages[].text", "messages[].user", "messages[].reactions[].name")


class SearchResults(msgspec.Struct, kw_only=True):
    query: str
    total: int
    page: int
    pages: int
    matches: list[Message]
    hidden_direct_messages: int = 0
    trust: TrustLabel = _trust("matches[].text", "matches[].user", "matches[].channel")


class User(msgspec.Struct, kw_only=True):
    id: str
    name: str
    display_name: str = ""
    real_name: str = ""
    title: str = ""
    email: str | None = None
    tz: str | None = None
    is_bot: bool = False
    is_admin: bool = False
    deleted: bool = False


class UserList(msgspec.Struct, kw_only=True):
    users: list[User]
    next_cursor: str | None = None
    trust: TrustLabel = _trust(
        "users[].name", "users[].display_name", "users[].real_name", "users[].title"
    )


class FoundUser(msgspec.Struct, kw_only=True):
    user: User
    trust: TrustLabel = _trust("user.name", "user.display_name", "user.real_name", "user.title")


class UserProfile(msgspec.Struct, kw_only=True):
    user_id: str
    display_name: str = ""
    real_name: str = ""
    title: str = ""
    email: str | None = None
    phone: str | None = None
    status_text: str = ""
    status_emoji: str = ""
    pronouns: str | None = None
    trust: TrustLabel = _trust(
        "display_name", "real_name", "title", "phone", "status_text", "status_emoji", "pronouns"
    )


class Posted(msgspec.Struct, kw_only=True):
    channel_id: str
    ts: str
    time: str | None = None
    thread_ts: str | None = None


class Reacted(msgspec.Struct, kw_only=True):
    channel_id: str
    timestamp: str
    reaction: str
