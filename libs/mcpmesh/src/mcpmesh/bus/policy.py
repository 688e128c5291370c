"""Sampling without NATS: the policy every sampling request passes, the LLM backends, and
the in-process fallback (imports nothing of NATS, so a single replica starts fast).

Every ``ctx.sample()`` first passes :class:`SamplingPolicy`: ``maxTokens`` capped and a
rate limit per principal (per session when there is none). When the client cannot sample,
the LLM backend — an OpenAI-compatible chat-completions endpoint or the Anthropic
Messages API — answers in-process (:class:`LocalSampler`) or, with the bus, through the
broker (:mod:`mcpmesh.bus.sampling`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import msgspec
import structlog

from mcpmesh.bus.settings import SamplingSettings
from mcpmesh.protocol.types import (
    CreateMessageParams,
    CreateMessageResult,
    TextContent,
    content_type,
)
from mcpmesh.server import middleware
from mcpmesh.server.context import Context
from mcpmesh.server.middleware import Middleware
from mcpmesh.server.results import ToolError

log = structlog.get_logger("mcpmesh.sampling")


class SamplingRefused(ToolError):
    """Policy or configuration refused a sampling request (the message says why)."""


# ------------------------------------------------------------ policy


class RateLimiter(Protocol):
    async def allow(self, key: str) -> tuple[bool, float]:
        """``(allowed, seconds until the window resets)``."""


class MemoryRateLimiter:
    """Fixed windows in this process (one replica)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.counts: dict[tuple[str, int], int] = {}

    async def allow(self, key: str) -> tuple[bool, float]:
        now = time.time()
        slot = int(now // self.window)
        if len(self.counts) > 10_000:
            self.counts = {k: v for k, v in self.counts.items() if k[1] == slot}
        count = self.counts.get((key, slot), 0) + 1
        self.counts[(key, slot)] = count
        return count <= self.limit, (slot + 1) * self.window - now


class SamplingPolicy:
    """The checks every sampling request passes (the sampling middleware's policy)."""

    def __init__(self, settings: SamplingSettings, limiter: RateLimiter) -> None:
        self.settings = settings
        self.limiter = limiter

    async def __call__(self, ctx: Context, params: CreateMessageParams) -> CreateMessageParams:
        if ctx.principal is not None:
            who = ctx.principal.key
        elif ctx.session.stateless:  # 2026: no session to count by; all anonymous callers
            who = "anonymous"
        else:
            who = f"session:{ctx.session_id}"
        allowed, wait = await self.limiter.allow(who)
        if not allowed:
            raise SamplingRefused(
                f"Sampling rate limit reached ({self.settings.rate_limit} requests per "
                f"{self.settings.rate_window:g} s); try again in {math.ceil(wait)} s."
            )
        if params.max_tokens > self.settings.max_tokens:
            params = msgspec.structs.replace(params, max_tokens=self.settings.max_tokens)
        return params


# ------------------------------------------------------------ LLM backends


class LlmError(Exception):
    """The LLM backend failed; the message is safe to show (no key, no raw body)."""


def _texts(params: CreateMessageParams) -> list[tuple[str, str]]:
    messages: list[tuple[str, str]] = []
    for message in params.messages:
        content = message.content
        parts = content if isinstance(content, list) else [content]
        texts = []
        for part in parts:
            if not isinstance(part, TextContent):
                raise LlmError(
                    "The sampling broker only relays text; this request has "
                    f"{content_type(part)} content."
                )
            texts.append(part.text)
        messages.append((message.role, "\n".join(texts)))
    return messages


class LlmBackend:
    """An LLM HTTP API: turns ``sampling/createMessage`` into one call and back."""

    def __init__(self, settings: SamplingSettings) -> None:
        self.settings = settings
        self.url = settings.llm_url.rstrip("/")
        key_file = settings.llm_api_key_file
        self._key = Path(key_file).read_text().strip() if key_file else ""
        self._http: aiohttp.ClientSession | None = None

    def model_for(self, params: CreateMessageParams) -> str:
        if self.settings.llm_model:
            return self.settings.llm_model
        hints = params.model_preferences.hints if params.model_preferences else None
        if hints and hints[0].name:
            return hints[0].name
        raise LlmError("No model configured for the sampling broker (MCPMESH_SAMPLING_LLM_MODEL).")

    async def complete(self, params: CreateMessageParams) -> CreateMessageResult:
        raise NotImplementedError

    async def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.llm_timeout)
            )
        try:
            async with self._http.post(self.url + path, json=body, headers=headers) as response:
                if response.status != 200:
                    raise LlmError(
                        f"The LLM API answered HTTP {response.status} "
                        f"({(await response.text())[:200]!r})."
                    )
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LlmError(f"The LLM API could not be reached: {type(exc).__name__}") from None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


class OpenAiChat(LlmBackend):
    """``POST {url}/chat/completions`` (OpenAI and compatible servers)."""

    _STOP = {"stop": "endTurn", "length": "maxTokens"}

    def request_body(self, params: CreateMessageParams) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if params.system_prompt:
            messages.append({"role": "system", "content": params.system_prompt})
        messages += [{"role": role, "content": text} for role, text in _texts(params)]
        body: dict[str, Any] = {
            "model": self.model_for(params),
            "messages": messages,
            "max_completion_tokens": params.max_tokens,
        }
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.stop_sequences:
            body["stop"] = params.stop_sequences[:4]
        return body

    async def complete(self, params: CreateMessageParams) -> CreateMessageResult:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        reply = await self._post("/chat/completions", self.request_body(params), headers)
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
            reason = choice.get("finish_reason")
            return CreateMessageResult(
                role="assistant",
                content=TextContent(text),
                model=reply["model"],
                stop_reason=self._STOP.get(reason, reason),
            )
        except (KeyError, IndexError, TypeError):
            raise LlmError("The LLM API's answer is not a chat completion.") from None


class AnthropicMessages(LlmBackend):
    """``POST {url}/messages`` (the Anthropic Messages API)."""

    _STOP = {"end_turn": "endTurn", "max_tokens": "maxTokens", "stop_sequence": "stopSequence"}
    #: The API version the official SDKs send (they dropped temperature/top_p/top_k).
    VERSION = "2026-10-21"

    def request_body(self, params: CreateMessageParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_for(params),
            "max_tokens": params.max_tokens,
            "messages": [{"role": role, "content": text} for role, text in _texts(params)],
        }
        if params.system_prompt:
            body["system"] = params.system_prompt
        # No temperature: API version 2026-10-21 removed the sampling parameters and
        # refuses a request carrying one; the MCP request's temperature is only a hint.
        if params.stop_sequences:
            body["stop_sequences"] = params.stop_sequences
        return body

    async def complete(self, params: CreateMessageParams) -> CreateMessageResult:
        headers = {"anthropic-version": self.VERSION}
        if self._key:
            headers["x-api-key"] = self._key
        reply = await self._post("/messages", self.request_body(params), headers)
        try:
            text = "".join(b["text"] for b in reply["content"] if b.get("type") == "text")
            reason = reply.get("stop_reason")
            return CreateMessageResult(
                role="assistant",
                content=TextContent(text),
                model=reply["model"],
                stop_reason=self._STOP.get(reason, reason),
            )
        except (KeyError, TypeError):
            raise LlmError("The LLM API's answer is not a Messages API message.") from None


def llm_backend(settings: SamplingSettings) -> LlmBackend | None:
    if not settings.llm_url:
        return None
    return AnthropicMessages(settings) if settings.llm_api == "anthropic" else OpenAiChat(settings)


class LocalSampler:
    """The sampling fallback without the bus: the LLM backend, in-process."""

    def __init__(self, backend: LlmBackend) -> None:
        self.backend = backend

    async def __call__(self, ctx: Context, params: CreateMessageParams) -> CreateMessageResult:
        try:
            return await self.backend.complete(params)
        except LlmError as exc:
            raise SamplingRefused(f"The LLM backend refused: {exc}") from None


def local_sampling(sampling: SamplingSettings) -> tuple[Middleware, LlmBackend | None]:
    """One replica, no NATS: the sampling policy, and the LLM backend called in-process.

    Returns the chain entry and the backend the app closes at shutdown (if any).
    """
    limiter = MemoryRateLimiter(sampling.rate_limit, sampling.rate_window)
    backend = llm_backend(sampling)
    fallback = LocalSampler(backend) if backend is not None else None
    return middleware.sampling(SamplingPolicy(sampling, limiter), fallback), backend
