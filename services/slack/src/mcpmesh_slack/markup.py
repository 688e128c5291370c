"""Slack's message markup made plain text.

Slack encodes mentions, channel links, special mentions and links as ``<…>`` and escapes
only ``&``, ``<`` and ``>`` (https://docs.slack.dev/messaging/formatting-message-text).
A link label can differ from its target, a classic trick, so a labelled link becomes
``label (target)``: the reader always sees where it points.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

_ANGLE = re.compile(r"<([^<>\n]*)>")
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
_SPECIAL = {"here", "channel", "everyone"}


def mentioned_users(text: str) -> set[str]:
    """User IDs mentioned as ``<@U…>`` in ``text``: the names to resolve before rendering."""
    return set(_USER_MENTION.findall(text or ""))


def to_plain(text: str, user_names: Mapping[str, str]) -> str:
    """Render Slack markup as plain text, mentions shown as ``@name``."""

    def replace(match: re.Match[str]) -> str:
        return _render(match.group(1), user_names)

    converted = _ANGLE.sub(replace, text or "")
    return unescape(converted)


def unescape(text: str) -> str:
    """Undo Slack's three escapes, and only those (``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``)."""
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def _render(inner: str, user_names: Mapping[str, str]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        return "@" + (user_names.get(user_id) or label.lstrip("@") or user_id)
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        return _render_special(target[1:], label)
    return _render_link(target, label)


def _render_special(command: str, label: str) -> str:
    name = command.split("^", 1)[0]
    if name in _SPECIAL:
        return "@" + name
    if name == "date":  # <!date^epoch^format^link|fallback>: the fallback is readable text
        return label or command
    if name == "subteam":
        return label if label.startswith("@") else "@" + (label or command.split("^", 1)[-1])
    return label or "@" + name


def _render_link(target: str, label: str) -> str:
    if target.startswith("mailto:"):
        address = target.removeprefix("mailto:")
        return address if not label or label == address else f"{label} ({address})"
    if not label or label == target:
        return target
    return f"{label} ({target})"


def readable_time(ts: str | None) -> str | None:
    """A Slack timestamp (``1700000000.000100``) as ISO 8601 UTC, e.g. ``2023-11-14T22:13:20Z``."""
    if not ts:
        return None
    try:
        moment = datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def slack_time(value: str) -> str:
    """A time argument as Slack wants it: a Slack timestamp is kept, ISO 8601 converted.

    Raises ``ValueError`` naming the accepted forms.
    """
    text = value.strip()
    try:
        float(text)
    except ValueError:
        pass
    else:
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time: give a Slack timestamp like 1700000000.000100 "
            "or ISO 8601 like 2024-05-01T09:30:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.timestamp():.6f}"
