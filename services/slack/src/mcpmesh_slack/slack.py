"""Talking to Slack: the official SDK's async client, its errors made actionable.

Every Slack Web API call of the service is a method of :class:`SlackApi`, written as
``client.<sdk_method>(keyword=...)`` on an ``AsyncWebClient``; a test parses this module
and checks each method and keyword against the SDK (which is generated from Slack's API
description), so a call Slack does not know cannot slip in.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp

from mcpmesh import ToolError
from mcpmesh.obs.metrics import upstream
from mcpmesh_slack.settings import SlackSettings

if TYPE_CHECKING:  # the SDK itself is imported with the first client (mcpmesh_slack.sdk)
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

Page = dict[str, Any]

#: Errors meaning the token itself is bad: Slack will not take it again.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)

_ERROR_HINTS = {
    "channel_not_found": "the channel does not exist or this token cannot see it "
    "(private channels need the app to be a member)",
    "not_in_channel": "the app is not a member of this channel; invite it with /invite",
    "is_archived": "the channel is archived",
    "thread_not_found": "no thread starts at that timestamp",
    "message_not_found": "no message has that timestamp in this channel",
    "user_not_found": "no user has that ID",
    "users_not_found": "no user has that email address (or the token cannot see them)",
    "already_reacted": "that reaction is already on the message",
    "invalid_name": "that is not a known emoji name (use e.g. thumbsup, without colons)",
    "msg_too_long": "the message is too long for Slack",
    "no_text": "the message is empty",
    "restricted_action": "the workspace does not allow this app to do that here",
    "invalid_cursor": "the cursor is not valid (pass the next_cursor of the previous call)",
    "invalid_ts_latest": "latest is not a valid time",
    "invalid_ts_oldest": "oldest is not a valid time",
}


def retry_after_seconds(headers: dict[str, Any]) -> float | None:
    """Slack's ``Retry-After`` (whole seconds) from response headers of either SDK shape."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


class SlackAuthError(ToolError):
    """Slack refused the token itself (revoked, expired, wrong): nothing else will work."""


class NameCache:
    """User and channel names per workspace token, kept ``ttl`` seconds (LRU-capped).

    Keyed by a digest of the token, so two principals with different workspaces never see
    each other's names and the token itself is never kept here.
    """

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._items: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()

    def get(self, scope: str, key: str) -> str | None:
        item = self._items.get((scope, key))
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            del self._items[(scope, key)]
            return None
        self._items.move_to_end((scope, key))
        return value

    def put(self, scope: str, key: str, value: str) -> None:
        self._items[(scope, key)] = (time.monotonic() + self.ttl, value)
        self._items.move_to_end((scope, key))
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class SlackCall:
    """One token's view of Slack: the SDK client plus what the service needs to explain failures."""

    def __init__(
        self,
        client: AsyncWebClient,
        token_name: str,
        settings: SlackSettings,
        on_rejected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.token_name = token_name
        self.settings = settings
        #: Called when Slack rejects the token, so the cached one is dropped and a token
        #: rotated in Vault is used by the next call.
        self.on_rejected = on_rejected
        self.scope = hashlib.sha256((client.token or "").encode()).hexdigest()[:24]

    async def run(self, method: str, request: Awaitable[AsyncSlackResponse]) -> Page:
        """Await one SDK call; any failure becomes a :class:`ToolError` that says what to do."""
        from slack_sdk.errors import SlackApiError  # loaded already: a client exists

        try:
            with upstream("slack"):  # timed in /metrics, a span when tracing
                response = await request
        except SlackApiError as exc:
            error = self._explain(method, exc.response)
            if isinstance(error, SlackAuthError) and self.on_rejected is not None:
                await self.on_rejected()
            raise error from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ToolError(
                f"Could not reach Slack at {self.settings.api_url} ({type(exc).__name__}); "
                "try again later."
            ) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _explain(self, method: str, response: AsyncSlackResponse) -> ToolError:
        """Turn Slack's ``error`` code into what went wrong and what to do about it."""
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {response.status_code}")
        how_to_set = f"mcpmesh secrets set slack {self.token_name}"
        if response.status_code == 429 or error == "ratelimited":
            wait = retry_after_seconds(dict(response.headers)) or 0
            return ToolError(
                f"Slack is rate-limiting {method} (Retry-After {wait:g} s) and the retries "
                f"allowed (MCPMESH_SLACK_MAX_RETRIES={self.settings.max_retries}, at most "
                f"{self.settings.max_retry_wait:g} s each) did not get through. Try again in "
                f"{max(wait, 1):g} s or ask for fewer items."
            )
        if error in AUTH_ERRORS:
            return SlackAuthError(
                f"Slack rejected the {self.token_name} ({error}): it is revoked, expired or "
                f"wrong. Store a valid token with: {how_to_set}"
            )
        if error == "missing_scope":
            needed = data.get("needed") or "an additional scope"
            provided = data.get("provided") or "none"
            return ToolError(
                f"The Slack {self.token_name} lacks the scope {needed} that {method} needs "
                f"(it has: {provided}). Add the scope to the Slack app, reinstall it to the "
                f"workspace, then store the new token with: {how_to_set}"
            )
        if error == "not_allowed_token_type":
            return ToolError(
                f"Slack does not accept a {self.token_name} for {method}. "
                "Searching needs a user token (xoxp-…) with search:read: "
                "mcpmesh secrets set slack user_token"
            )
        hint = _ERROR_HINTS.get(error)
        detail = f": {hint}" if hint else ""
        return ToolError(f"Slack refused {method} ({error}){detail}.")


class SlackApi:
    """The Slack Web API calls this service makes, one method each.

    Owns the aiohttp session shared by all clients (opened on service start) and the name
    cache. Callers get a :class:`SlackCall` per token from :meth:`for_token`.
    """

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings
        self.names = NameCache(settings.name_cache_ttl, settings.name_cache_size)
        self._session: aiohttp.ClientSession | None = None

    async def start(self, _service: object = None) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def close(self, _service: object = None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def for_token(
        self,
        token: str,
        token_name: str,
        on_rejected: Callable[[], Awaitable[None]] | None = None,
    ) -> SlackCall:
        if self._session is None:  # used without the service's startup hook (e.g. a script)
            self._session = aiohttp.ClientSession()
        from mcpmesh_slack.sdk import web_client

        return SlackCall(
            web_client(token, self.settings, self._session), token_name, self.settings, on_rejected
        )

    # ------------------------------------------------------------ pagination

    async def paginate(
        self,
        fetch: Callable[[str | None, int], Awaitable[Page]],
        key: str,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Follow ``response_metadata.next_cursor`` until ``limit`` items or ``max_pages``.

        Each request asks for no more than is still wanted, so a returned cursor never skips
        items; the cursor is Slack's own, handed back unchanged for the next call.
        """
        items: list[dict[str, Any]] = []
        for _ in range(self.settings.max_pages):
            page = await fetch(cursor, min(self.settings.page_size, limit - len(items)))
            items.extend(page.get(key) or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None or len(items) >= limit:
                break
        return items, cursor

    # ------------------------------------------------------------ reading

    async def list_channels(
        self, call: SlackCall, *, types: str, include_archived: bool, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        client = call.client

        async def fetch(page_cursor: str | None, page_limit: int) -> Page:
            return await call.run(
                "conversations.list",
                client.conversations_list(
                    types=types,
                    exclude_archived=not include_archived,
                    limit=page_limit,
                    cursor=page_cursor,
                    team_id=self.settings.team_id,
                ),
            )

        return await self.paginate(fetch, "channels", limit, cursor)

    async def channel_history(
        self,
        call: SlackCall,
        *,
        channel: str,
        limit: int,
        cursor: str | None,
        oldest: str | None,
        latest: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        client = call.client

        async def fetch(page_cursor: str | None, page_limit: int) -> Page:
            return await call.run(
                "conversations.history",
                client.conversations_history(
                    channel=channel,
                    limit=page_limit,
                    cursor=page_cursor,
                    oldest=oldest,
                    latest=latest,
                ),
            )

        return await self.paginate(fetch, "messages", limit, cursor)

    async def thread_replies(
        self, call: SlackCall, *, channel: str, thread_ts: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        client = call.client

        async def fetch(page_cursor: str | None, page_limit: int) -> Page:
            return await call.run(
                "conversations.replies",
                client.conversations_replies(
                    channel=channel, ts=thread_ts, limit=page_limit, cursor=page_cursor
                ),
            )

        return await self.paginate(fetch, "messages", limit, cursor)

    async def search_messages(
        self, call: SlackCall, *, query: str, count: int, page: int, sort: str, sort_dir: str
    ) -> Page:
        client = call.client
        return await call.run(
            "search.messages",
            client.search_messages(
                query=query,
                count=count,
                page=page,
                sort=sort,
                sort_dir=sort_dir,
                team_id=self.settings.team_id,
            ),
        )

    async def list_users(
        self, call: SlackCall, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        client = call.client

        async def fetch(page_cursor: str | None, page_limit: int) -> Page:
            return await call.run(
                "users.list",
                client.users_list(
                    limit=page_limit, cursor=page_cursor, team_id=self.settings.team_id
                ),
            )

        return await self.paginate(fetch, "members", limit, cursor)

    async def user_info(self, call: SlackCall, user: str) -> dict[str, Any]:
        client = call.client
        page = await call.run("users.info", client.users_info(user=user))
        return page.get("user") or {}

    async def user_profile(self, call: SlackCall, user: str) -> dict[str, Any]:
        client = call.client
        page = await call.run("users.profile.get", client.users_profile_get(user=user))
        return page.get("profile") or {}

    async def user_by_email(self, call: SlackCall, email: str) -> dict[str, Any]:
        client = call.client
        page = await call.run("users.lookupByEmail", client.users_lookupByEmail(email=email))
        return page.get("user") or {}

    async def channel_info(self, call: SlackCall, channel: str) -> dict[str, Any]:
        client = call.client
        page = await call.run("conversations.info", client.conversations_info(channel=channel))
        return page.get("channel") or {}

    # ------------------------------------------------------------ writing

    async def post_message(
        self, call: SlackCall, *, channel: str, text: str, thread_ts: str | None = None
    ) -> Page:
        client = call.client
        return await call.run(
            "chat.postMessage",
            client.chat_postMessage(
                channel=channel,
                text=text,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )

    async def add_reaction(
        self, call: SlackCall, *, channel: str, timestamp: str, name: str
    ) -> Page:
        client = call.client
        return await call.run(
            "reactions.add", client.reactions_add(channel=channel, timestamp=timestamp, name=name)
        )

    # ------------------------------------------------------------ names

    async def user_names(self, call: SlackCall, user_ids: set[str]) -> dict[str, str]:
        """Display names for ``user_ids``: from the cache, else ``users.info`` (a few at once)."""
        names: dict[str, str] = {}
        missing: list[str] = []
        for user_id in user_ids:
            cached = self.names.get(call.scope, "user:" + user_id)
            if cached is None:
                missing.append(user_id)
            else:
                names[user_id] = cached
        limiter = asyncio.Semaphore(4)

        async def resolve(user_id: str) -> None:
            async with limiter:
                try:
                    user = await self.user_info(call, user_id)
                except ToolError:
                    return  # an unknown or hidden user keeps its ID; the message still shows
            name = display_name(user) or user_id
            self.remember_user(call, user_id, name)
            names[user_id] = name

        await asyncio.gather(*(resolve(user_id) for user_id in missing))
        return names

    def remember_user(self, call: SlackCall, user_id: str, name: str) -> None:
        self.names.put(call.scope, "user:" + user_id, name)

    async def channel_name(self, call: SlackCall, channel: str) -> str:
        """The channel's name (cached); raises :class:`ToolError` when Slack will not say."""
        cached = self.names.get(call.scope, "channel:" + channel)
        if cached is None:
            cached = str((await self.channel_info(call, channel)).get("name") or channel)
            self.names.put(call.scope, "channel:" + channel, cached)
        return cached


def display_name(user: dict[str, Any]) -> str:
    """How Slack shows a person: display name, else real name, else handle."""
    profile = user.get("profile") or {}
    return str(
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or ""
    )
