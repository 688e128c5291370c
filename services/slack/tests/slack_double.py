"""A local stand-in for Slack's Web API: exactly the methods the service uses.

It answers the way Slack documents (https://docs.slack.dev/apis/web-api/): HTTP 200
with ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; cursor pagination with
``response_metadata.next_cursor`` (empty on the last page); HTTP 429 with
``Retry-After`` and ``error: ratelimited``; ``missing_scope`` with ``needed`` and
``provided``; token errors ``not_authed``, ``invalid_auth``, ``token_revoked``;
``not_allowed_token_type`` for a bot token on search. Tokens carry scopes, so the
service's scope handling is exercised for real. Every request is recorded.

``METHODS`` maps each Slack method to its handler, required scope and accepted
arguments; a test checks every name and argument against the official SDK.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from mcpmesh.embedded.process import free_port


@dataclass
class Token:
    kind: str  # "bot" or "user"
    scopes: set[str]


@dataclass
class Request:
    method: str
    args: dict[str, Any]
    status: int = 200
    error: str | None = None


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


BOT_SCOPES = {
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "users:read",
    "users:read.email",
    "users.profile:read",
    "chat:write",
    "reactions:write",
}
USER_SCOPES = BOT_SCOPES | {"search:read"}


@dataclass
class SlackDouble:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: channel → messages, oldest first (history answers newest first, as Slack does)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (channel, thread_ts) → replies, oldest first (the parent is in ``history``)
    replies: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    #: method → Retry-After values; each request to the method takes one and gets a 429
    rate_limits: dict[str, list[int]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    #: arguments received that the method table does not list (must stay empty)
    unknown_args: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    _clock: float = 1_700_000_000.0

    # ------------------------------------------------------------ building the workspace

    def add_user(self, user_id: str, name: str, **profile: Any) -> dict[str, Any]:
        user = {
            "id": user_id,
            "team_id": "T0DOUBLE",
            "name": name,
            "real_name": profile.get("real_name", name.title()),
            "deleted": profile.pop("deleted", False),
            "is_bot": profile.pop("is_bot", False),
            "is_admin": profile.pop("is_admin", False),
            "tz": "Europe/Berlin",
            "profile": {
                "display_name": profile.get("display_name", name),
                "real_name": profile.get("real_name", name.title()),
                "title": profile.get("title", ""),
                "email": profile.get("email", f"{name}@example.com"),
                "status_text": profile.get("status_text", ""),
                "status_emoji": profile.get("status_emoji", ""),
                "phone": "",
            },
        }
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        member: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        channel = {
            "id": channel_id,
            "name": name,
            "is_channel": not private and not extra.get("im", False),
            "is_im": extra.get("im", False),
            "is_mpim": extra.get("mpim", False),
            "is_private": private,
            "is_archived": extra.get("archived", False),
            "is_member": member,
            "num_members": extra.get("num_members", 3),
            "topic": {"value": extra.get("topic", ""), "creator": "", "last_set": 0},
            "purpose": {"value": extra.get("purpose", ""), "creator": "", "last_set": 0},
            "created": 1_600_000_000,
        }
        self.channels[channel_id] = channel
        self.history.setdefault(channel_id, [])
        return channel

    def next_ts(self) -> str:
        self._clock += 60
        return f"{self._clock:.6f}"

    def add_message(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        ts = self.next_ts()
        message = {"type": "message", "user": user_id, "text": text, "ts": ts, **extra}
        if thread_ts is None:
            self.history[channel_id].append(message)
        else:
            parent = self._message(channel_id, thread_ts)
            parent["thread_ts"] = thread_ts
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            message["thread_ts"] = thread_ts
            self.replies.setdefault((channel_id, thread_ts), []).append(message)
        return message

    def calls(self, method: str) -> list[Request]:
        return [r for r in self.requests if r.method == method]

    # ------------------------------------------------------------ HTTP

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[SlackDouble]:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{port}/api/"
        try:
            yield self
        finally:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token = await _read_args(request)
        record = Request(method, args)
        self.requests.append(record)
        spec = METHODS.get(method)
        if spec is None:
            record.status, record.error = 404, "unknown_method"
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        self.unknown_args.extend((method, name) for name in args if name not in spec.args)
        pending = self.rate_limits.get(method)
        if pending:
            retry_after = pending.pop(0)
            record.status, record.error = 429, "ratelimited"
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        try:
            self._authorize(method, spec, token, args)
            body = spec.handler(self, args, self.tokens[token or ""])
        except SlackError as exc:
            record.error = exc.error
            return web.json_response({"ok": False, "error": exc.error, **exc.extra})
        return web.json_response({"ok": True, **body})

    def _authorize(self, method: str, spec: MethodSpec, token: str | None, args: dict) -> None:
        if not token:
            raise SlackError("not_authed")
        if token in self.revoked:
            raise SlackError("token_revoked")
        info = self.tokens.get(token)
        if info is None:
            raise SlackError("invalid_auth")
        if spec.user_token_only and info.kind != "user":
            raise SlackError("not_allowed_token_type")
        for scope in spec.scopes(args):
            if scope not in info.scopes:
                raise SlackError(
                    "missing_scope", needed=scope, provided=",".join(sorted(info.scopes))
                )

    def _message(self, channel_id: str, ts: str) -> dict[str, Any]:
        for message in self.history.get(channel_id, []):
            if message["ts"] == ts:
                return message
        for (channel, _), replies in self.replies.items():
            for message in replies:
                if channel == channel_id and message["ts"] == ts:
                    return message
        raise SlackError("message_not_found")

    def _channel(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel") or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        return channel


async def _read_args(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Arguments from the query string, a form body or a JSON body, as Slack accepts them."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            payload = json.loads(await request.text() or "{}")
            args.update({k: v for k, v in payload.items() if v is not None})
        else:
            args.update(dict(await request.post()))
    token = args.pop("token", None)
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header.removeprefix("Bearer ")
    return args, token


# ------------------------------------------------------------------ pagination helpers


def _cursor_offset(args: dict[str, Any]) -> int:
    cursor = args.get("cursor")
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.b64decode(str(cursor)).decode().partition(":")
        if kind != "offset":
            raise ValueError
        return int(offset)
    except ValueError:
        raise SlackError("invalid_cursor") from None


def _page(items: list[Any], args: dict[str, Any], default: int = 100) -> tuple[list[Any], str]:
    start = _cursor_offset(args)
    limit = min(int(args.get("limit") or default) or len(items) or 1, 1000)
    page = items[start : start + limit]
    end = start + len(page)
    cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return page, cursor


def _flag(args: dict[str, Any], name: str, default: bool = False) -> bool:
    value = args.get(name)
    if value is None:
        return default
    return str(value).lower() in {"1", "true"}


# ------------------------------------------------------------------ methods


def _conversations_list(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    types = set(str(args.get("types") or "public_channel").split(","))
    wanted = [
        c
        for c in double.channels.values()
        if ("private_channel" if c["is_private"] else "public_channel") in types
        and not (c["is_archived"] and _flag(args, "exclude_archived"))
    ]
    page, cursor = _page(wanted, args)
    return {"channels": page, "response_metadata": {"next_cursor": cursor}}


def _conversations_info(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    return {"channel": double._channel(args)}


def _conversations_history(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    channel = double._channel(args)
    if not channel["is_member"] and channel["is_private"]:
        raise SlackError("channel_not_found")
    oldest = float(args.get("oldest") or 0)
    latest = float(args.get("latest") or time.time() + 10**9)
    newest_first = [
        m for m in reversed(double.history[channel["id"]]) if oldest < float(m["ts"]) < latest
    ]
    page, cursor = _page(newest_first, args)
    return {
        "messages": page,
        "has_more": bool(cursor),
        "pin_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def _conversations_replies(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    channel = double._channel(args)
    ts = str(args.get("ts") or "")
    try:
        parent = double._message(channel["id"], ts)
    except SlackError:
        raise SlackError("thread_not_found") from None
    thread = [parent, *double.replies.get((channel["id"], ts), [])]
    page, cursor = _page(thread, args, default=1000)
    return {
        "messages": page,
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def _search_messages(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    query = str(args.get("query") or "")
    if not query:
        raise SlackError("no_query")
    matches = []
    for channel_id, messages in double.history.items():
        channel = double.channels[channel_id]
        for message in messages:
            if query.lower() in message["text"].lower():
                user = double.users.get(message.get("user", ""), {})
                matches.append(
                    {
                        **message,
                        "channel": {
                            "id": channel_id,
                            "name": channel["name"],
                            "is_private": channel["is_private"],
                            "is_im": channel["is_im"],
                            "is_mpim": channel["is_mpim"],
                        },
                        "username": user.get("name", ""),
                        "permalink": f"https://double.slack.test/archives/{channel_id}/p{message['ts'].replace('.', '')}",
                        "team": "T0DOUBLE",
                    }
                )
    reverse = str(args.get("sort_dir") or "desc") == "desc"
    matches.sort(key=lambda m: float(m["ts"]), reverse=reverse)
    count = max(1, min(int(args.get("count") or 20), 100))
    page = max(1, int(args.get("page") or 1))
    pages = (len(matches) + count - 1) // count
    chunk = matches[(page - 1) * count : page * count]
    return {
        "query": query,
        "messages": {
            "total": len(matches),
            "matches": chunk,
            "paging": {"count": count, "total": len(matches), "page": page, "pages": pages},
            "pagination": {
                "total_count": len(matches),
                "page": page,
                "per_page": count,
                "page_count": pages,
                "first": (page - 1) * count + 1,
                "last": (page - 1) * count + len(chunk),
            },
        },
    }


def _users_list(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    page, cursor = _page(list(double.users.values()), args, default=0)
    return {"members": page, "cache_ts": 0, "response_metadata": {"next_cursor": cursor}}


def _user(double: SlackDouble, args: dict[str, Any]) -> dict[str, Any]:
    user = double.users.get(str(args.get("user") or ""))
    if user is None:
        raise SlackError("user_not_found")
    return user


def _users_info(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    return {"user": _user(double, args)}


def _users_profile_get(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    return {"profile": _user(double, args)["profile"]}


def _users_lookup_by_email(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    email = str(args.get("email") or "").lower()
    for user in double.users.values():
        if user["profile"].get("email", "").lower() == email:
            return {"user": user}
    raise SlackError("users_not_found")


def _chat_post_message(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    channel = double._channel(args)
    if not channel["is_member"]:
        raise SlackError("not_in_channel")
    if channel["is_archived"]:
        raise SlackError("is_archived")
    text = str(args.get("text") or "")
    if not text:
        raise SlackError("no_text")
    thread_ts = args.get("thread_ts")
    if thread_ts:
        try:
            double._message(channel["id"], str(thread_ts))
        except SlackError:
            raise SlackError("thread_not_found") from None
    message = double.add_message(
        channel["id"], "UBOT", text, thread_ts=str(thread_ts) if thread_ts else None, bot_id="B1"
    )
    return {"channel": channel["id"], "ts": message["ts"], "message": message}


def _reactions_add(double: SlackDouble, args: dict[str, Any], token: Token) -> dict:
    channel = double._channel(args)
    message = double._message(channel["id"], str(args.get("timestamp") or ""))
    name = str(args.get("name") or "")
    if not name or ":" in name:
        raise SlackError("invalid_name")
    reactions = message.setdefault("reactions", [])
    for reaction in reactions:
        if reaction["name"] == name:
            raise SlackError("already_reacted")
    reactions.append({"name": name, "count": 1, "users": ["UBOT"]})
    return {}


@dataclass(frozen=True)
class MethodSpec:
    handler: Callable[[SlackDouble, dict[str, Any], Token], dict[str, Any]]
    scope: str
    args: frozenset[str]
    user_token_only: bool = False
    private_scope: str | None = None

    def scopes(self, args: dict[str, Any]) -> list[str]:
        """The scope Slack checks first: private channel types need the ``groups:`` one."""
        needed = [self.scope]
        if self.private_scope and "private_channel" in str(args.get("types") or ""):
            needed.append(self.private_scope)
        return needed


METHODS: dict[str, MethodSpec] = {
    "conversations.list": MethodSpec(
        _conversations_list,
        "channels:read",
        frozenset({"cursor", "exclude_archived", "limit", "team_id", "types"}),
        private_scope="groups:read",
    ),
    "conversations.info": MethodSpec(
        _conversations_info,
        "channels:read",
        frozenset({"channel", "include_locale", "include_num_members"}),
    ),
    "conversations.history": MethodSpec(
        _conversations_history,
        "channels:history",
        frozenset({"channel", "cursor", "inclusive", "latest", "limit", "oldest"}),
    ),
    "conversations.replies": MethodSpec(
        _conversations_replies,
        "channels:history",
        frozenset({"channel", "ts", "cursor", "inclusive", "latest", "limit", "oldest"}),
    ),
    "search.messages": MethodSpec(
        _search_messages,
        "search:read",
        frozenset({"query", "count", "cursor", "highlight", "page", "sort", "sort_dir", "team_id"}),
        user_token_only=True,
    ),
    "users.list": MethodSpec(
        _users_list, "users:read", frozenset({"cursor", "include_locale", "limit", "team_id"})
    ),
    "users.info": MethodSpec(_users_info, "users:read", frozenset({"user", "include_locale"})),
    "users.profile.get": MethodSpec(
        _users_profile_get, "users.profile:read", frozenset({"user", "include_labels"})
    ),
    "users.lookupByEmail": MethodSpec(
        _users_lookup_by_email, "users:read.email", frozenset({"email"})
    ),
    "chat.postMessage": MethodSpec(
        _chat_post_message,
        "chat:write",
        frozenset(
            {
                "channel",
                "text",
                "thread_ts",
                "reply_broadcast",
                "unfurl_links",
                "unfurl_media",
                "mrkdwn",
            }
        ),
    ),
    "reactions.add": MethodSpec(
        _reactions_add, "reactions:write", frozenset({"channel", "name", "timestamp"})
    ),
}
