"""Test helpers: the workspace in the double, starting the service, MCP client callbacks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mcp import types
from slack_double import BOT_SCOPES, USER_SCOPES, SlackDouble, Token

from mcpmesh.config import ServerSettings
from mcpmesh.secrets import DevSecretProvider
from mcpmesh.testing import sdk_client, sdk_session, serve_in_background
from mcpmesh_slack.service import create
from mcpmesh_slack.settings import SlackSettings

BOT = "xoxb-1111-2222-doubletoken"
USER = "xoxp-1111-3333-doubletoken"

Elicit = Callable[[Any, types.ElicitRequestParams], Awaitable[types.ElicitResult]]


def workspace(double: SlackDouble) -> None:
    """Alice, Bob and a bot; #general, #random, a private #secret and an archived channel."""
    double.add_user("U0ALICE", "alice", display_name="Alice A", title="Engineer")
    double.add_user("U0BOB", "bob", display_name="", real_name="Bob Builder")
    double.add_user("UBOT", "mcpbot", is_bot=True)
    double.add_channel("C0GENERAL", "general", topic="Company-wide", num_members=42)
    double.add_channel("C0RANDOM", "random", purpose="Off-topic")
    double.add_channel("G0SECRET", "secret", private=True)
    double.add_channel("C0OLD", "old-stuff", archived=True)
    double.add_channel("C0OUTSIDE", "not-joined", member=False)
    double.tokens[BOT] = Token("bot", set(BOT_SCOPES))
    double.tokens[USER] = Token("user", set(USER_SCOPES))


class Harness:
    """Start the service with given settings and tokens, then talk to it as a client."""

    def __init__(self, double: SlackDouble) -> None:
        self.double = double

    @contextlib.asynccontextmanager
    async def client(
        self,
        *,
        tokens: dict[str, str] | None = None,
        elicit: Elicit | None = None,
        modern: bool = False,
        **settings: Any,
    ) -> AsyncIterator[Any]:
        """``modern``: the SDK's 2026-07-28 ``Client`` instead of a 2025 session."""
        slack_settings = SlackSettings(**{"api_url": self.double.url, **settings})
        secrets = DevSecretProvider(
            {"bot_token": BOT} if tokens is None else tokens, service="slack"
        )
        service = create(
            ServerSettings(client_request_timeout=5), slack=slack_settings, secrets=secrets
        )
        async with (
            serve_in_background(service) as running,
            (
                sdk_client(running.url, elicitation=elicit)
                if modern
                else sdk_session(running.url, elicitation=elicit)
            ) as session,
        ):
            yield session


def accept(content: dict[str, Any] | None = None) -> Elicit:
    """An elicitation callback that answers yes and records the questions asked."""
    questions: list[str] = []

    async def callback(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        return types.ElicitResult(action="accept", content=content or {"confirm": True})

    callback.questions = questions  # type: ignore[attr-defined]
    return callback


def decline() -> Elicit:
    async def callback(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    return callback
