"""The Slack SDK's client and its retry policy: imported with the first client a call
needs, not at start (the SDK is ~3 MB of idle RSS, and an idle service makes no call)."""

from __future__ import annotations

import asyncio

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from mcpmesh.obs.metrics import rate_limited
from mcpmesh_slack.settings import SlackSettings
from mcpmesh_slack.slack import retry_after_seconds


def web_client(
    token: str, settings: SlackSettings, session: aiohttp.ClientSession
) -> AsyncWebClient:
    """An SDK client for one token on the service's shared session."""
    return AsyncWebClient(
        token=token,
        base_url=settings.api_url,
        session=session,
        timeout=settings.timeout,
        retry_handlers=[
            BoundedRateLimitRetry(settings.max_retries, settings.max_retry_wait),
            AsyncConnectionErrorRetryHandler(),
        ],
    )


class BoundedRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Retry HTTP 429 after exactly Slack's ``Retry-After``, a bounded number of times.

    The SDK's own handler waits however long Slack says; a tool call should not hang for
    minutes, so a wait above ``max_wait`` gives up at once and the caller reports it.
    """

    def __init__(self, max_retry_count: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_seconds(response.headers)
        return wait is not None and wait <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = retry_after_seconds(response.headers) if response is not None else None
        waited = min(self.max_wait, 1.0 if wait is None else wait)
        rate_limited("slack", waited)
        await asyncio.sleep(waited)
        state.increment_current_attempt()
