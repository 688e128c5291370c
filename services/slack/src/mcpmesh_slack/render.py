"""Untrusted text made safe, and the compact text of tool results.

Every string a Slack user controls (message text, names, topics, statuses) goes through
:func:`untrusted`, i.e. the shared sanitizer (invisible Unicode, BiDi, zero-width, hidden
markup). The compact text wraps that content in the shared ``<untrusted-content>`` block
after the shared notice; the service's own lines (counts, how to page on) stay outside
it, so a model can tell our instructions from the workspace's words.
"""

from __future__ import annotations

from typing import Any

from mcpmesh.guard.sanitize import UNTRUSTED_NOTICE, sanitize_text, untrusted_block
from mcpmesh_slack.models import (
    ChannelList,
    Message,
    MessageList,
    Posted,
    SearchResults,
    User,
    UserList,
    UserProfile,
)


def untrusted(value: Any) -> str:
    """Text a Slack user wrote, sanitized for a model (and a markdown-rendering client)."""
    if value is None:
        return ""
    return sanitize_text(str(value))


def labelled(header: str, body: list[str], *, source: str, footer: str | None = None) -> str:
    """``header``, the notice, the untrusted block, then our ``footer`` (e.g. the cursor)."""
    parts = [header, UNTRUSTED_NOTICE, untrusted_block("\n".join(body), source=source)]
    if footer:
        parts.append(footer)
    return "\n".join(parts)


def channels_text(result: ChannelList) -> str:
    return labelled(
        f"{len(result.channels)} channel(s):",
        [_channel_line(channel) for channel in result.channels],
        source="slack:conversations.list",
        footer=_cursor_footer(result.next_cursor),
    )


def messages_text(result: MessageList, what: str) -> str:
    return labelled(
        f"{len(result.messages)} message(s), {what}:",
        [_message_text(message) for message in result.messages],
        source=f"slack:{result.channel_id}",
        footer=_cursor_footer(result.next_cursor),
    )


def search_text(result: SearchResults) -> str:
    notes = []
    if result.hidden_direct_messages:
        notes.append(
            f"{result.hidden_direct_messages} direct-message match(es) on this page were left "
            "out (MCPMESH_SLACK_SEARCH_DIRECT_MESSAGES is off)."
        )
    if result.page < result.pages:
        notes.append(f"More: call again with page={result.page + 1}")
    more = "\n".join(notes) or None
    return labelled(
        f"{result.total} match(es) for {result.query!r}, page {result.page} of {max(result.pages, 1)}:",
        [_message_text(message) for message in result.matches],
        source="slack:search.messages",
        footer=more,
    )


def users_text(users: list[User], cursor: str | None = None) -> str:
    return labelled(
        f"{len(users)} user(s):",
        [_user_line(user) for user in users],
        source="slack:users",
        footer=_cursor_footer(cursor),
    )


def profile_text(profile: UserProfile) -> str:
    fields = (
        ("display name", profile.display_name),
        ("real name", profile.real_name),
        ("title", profile.title),
        ("email", profile.email),
        ("phone", profile.phone),
        ("pronouns", profile.pronouns),
        ("status", f"{profile.status_emoji} {profile.status_text}".strip()),
    )
    return labelled(
        f"Profile of {profile.user_id}:",
        [f"{label}: {value}" for label, value in fields if value],
        source=f"slack:{profile.user_id}",
    )


def posted_text(result: Posted, where: str) -> str:
    thread = f" in thread {result.thread_ts}" if result.thread_ts else ""
    return f"Posted to {where}{thread}: ts {result.ts} ({result.time or 'time unknown'})."


def user_list(result: UserList) -> str:
    return users_text(result.users, result.next_cursor)


def _channel_line(channel: Any) -> str:
    flags = [
        flag
        for flag, on in (("private", channel.is_private), ("archived", channel.is_archived))
        if on
    ]
    members = f", {channel.num_members} members" if channel.num_members is not None else ""
    note = f" [{', '.join(flags)}]" if flags else ""
    about = channel.topic or channel.purpose
    return f"#{channel.name} ({channel.id}){note}{members}" + (
        f" — {_one_line(about)}" if about else ""
    )


def _user_line(user: User) -> str:
    shown = user.display_name or user.real_name or user.name
    extra = [
        part
        for part in (
            user.real_name if user.real_name != shown else "",
            user.title,
            user.email or "",
            "bot" if user.is_bot else "",
            "deactivated" if user.deleted else "",
        )
        if part
    ]
    return f"@{shown} ({user.id})" + (f" — {'; '.join(extra)}" if extra else "")


def _message_text(message: Message) -> str:
    who = f"@{message.user}" if message.user else "(unknown author)"
    where = f" in #{message.channel}" if message.channel else ""
    extras = []
    if message.reply_count:
        extras.append(f"{message.reply_count} replies, thread_ts {message.thread_ts}")
    elif message.thread_ts and message.thread_ts != message.ts:
        extras.append(f"in thread {message.thread_ts}")
    if message.reactions:
        extras.append(" ".join(f":{r.name}: {r.count}" for r in message.reactions))
    tail = f" ({'; '.join(extras)})" if extras else ""
    body = message.text.replace("\n", "\n    ")
    return f"[{message.time or '?'}] {who}{where} ts={message.ts}{tail}:\n    {body}"


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 120 else flat[:117] + "..."


def _cursor_footer(cursor: str | None) -> str | None:
    return f"More: call again with cursor={cursor!r}" if cursor else None
