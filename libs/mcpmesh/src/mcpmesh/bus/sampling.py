"""Sampling without a sampling client: the broker, its LLM backends, and the policy.

``ctx.sample()`` goes to the client when it declared sampling. Otherwise the service's
``sampling_fallback`` sends the request over NATS (``P.sampling.request``, queue group
``P-sampling``: one broker answers) to a broker that calls the configured LLM HTTP API
— an OpenAI-compatible chat-completions endpoint or the Anthropic Messages API — or, with
no broker running, the tool gets a clear refusal. Without NATS the same backend is called
in-process. Every sampling request first passes :class:`SamplingPolicy`: ``maxTokens``
capped, a rate limit per principal (per session when there is none; shared by all
replicas through a KV bucket when the bus is on), and an audit record (see
``Context.sample``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import msgspec
import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from mcpmesh.bus.settings import SamplingSettings
from mcpmesh.protocol.types import (
    CreateMessageParams,
    CreateMessageResult,
    SamplingMessage,
    TextContent,
)
from mcpmesh.server.context import Context
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


class KvRateLimiter:
    """Fixed windows counted in a JetStream KV bucket, so all replicas share one limit.

    Each principal's counter for the current window is one key, incremented with a
    compare-and-set on its revision (retried when another replica won the race); the
    bucket's TTL removes old windows.
    """

    def __init__(self, kv: KeyValue, limit: int, window: float) -> None:
        self.kv = kv
        self.limit = limit
        self.window = window

    async def allow(self, key: str) -> tuple[bool, float]:
        now = time.time()
        slot = int(now // self.window)
        name = f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.{slot}"
        for _ in range(20):
            try:
                entry = await self.kv.get(name)
            except KeyNotFoundError:
                entry = None
            count = int(entry.value or b"0") if entry is not None else 0
            if count >= self.limit:
                return False, (slot + 1) * self.window - now
            try:
                if entry is None:
                    await self.kv.create(name, str(count + 1).encode())
                else:
                    await self.kv.update(name, str(count + 1).encode(), last=entry.revision)
                return True, (slot + 1) * self.window - now
            except (KeyWrongLastSequenceError, nats.js.errors.APIError):
                continue
        return False, 1.0


class SamplingPolicy:
    """The checks every sampling request passes (``service.sampling_policy``)."""

    def __init__(self, settings: SamplingSettings, limiter: RateLimiter) -> None:
        self.settings = settings
        self.limiter = limiter

    async def __call__(self, ctx: Context, params: CreateMessageParams) -> CreateMessageParams:
        who = ctx.principal or f"session:{ctx.session_id}"
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
    messages = []
    for message in params.messages:
        content = message.content
        parts = content if isinstance(content, list) else [content]
        texts = []
        for part in parts:
            if not isinstance(part, TextContent):
                raise LlmError(
                    f"The sampling broker only relays text; this request has {part.type} content."
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
    VERSION = "2023-06-01"

    def request_body(self, params: CreateMessageParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_for(params),
            "max_tokens": params.max_tokens,
            "messages": [{"role": role, "content": text} for role, text in _texts(params)],
        }
        if params.system_prompt:
            body["system"] = params.system_prompt
        if params.temperature is not None:
            body["temperature"] = params.temperature
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


# ------------------------------------------------------------ over the bus


class BrokerRequest(msgspec.Struct, kw_only=True):
    service: str
    principal: str | None
    params: CreateMessageParams


class BrokerReply(msgspec.Struct, kw_only=True, omit_defaults=True):
    result: CreateMessageResult | None = None
    error: str | None = None


def request_subject(prefix: str) -> str:
    return f"{prefix}.sampling.request"


class SamplingBroker:
    """Answers sampling requests from every service on the bus with one LLM backend."""

    def __init__(self, nc: NatsClient, prefix: str, backend: LlmBackend, max_tokens: int) -> None:
        self.nc = nc
        self.prefix = prefix
        self.backend = backend
        self.max_tokens = max_tokens
        self.served = 0

    async def start(self) -> None:
        await self.nc.subscribe(
            request_subject(self.prefix), queue=f"{self.prefix}-sampling", cb=self._on_request
        )

    async def _on_request(self, msg: Msg) -> None:
        # Handled in its own task: one slow LLM call must not hold up the others.
        asyncio.get_running_loop().create_task(self._answer(msg))

    async def _answer(self, msg: Msg) -> None:
        try:
            request = msgspec.msgpack.decode(msg.data, type=BrokerRequest)
            params = request.params
            if params.max_tokens > self.max_tokens:  # the policy capped it already; belt and braces
                params = msgspec.structs.replace(params, max_tokens=self.max_tokens)
            reply = BrokerReply(result=await self.backend.complete(params))
            self.served += 1
        except msgspec.DecodeError:
            reply = BrokerReply(error="The sampling request is malformed.")
        except LlmError as exc:
            reply = BrokerReply(error=str(exc))
        await msg.respond(msgspec.msgpack.encode(reply))


class BusSampler:
    """``service.sampling_fallback`` when the bus is on: ask whichever broker is free."""

    def __init__(self, nc: NatsClient, prefix: str, service: str, timeout: float) -> None:
        self.nc = nc
        self.subject = request_subject(prefix)
        self.service = service
        self.timeout = timeout

    async def __call__(self, ctx: Context, params: CreateMessageParams) -> CreateMessageResult:
        if not self.nc.is_connected:
            raise SamplingRefused(
                "The client cannot sample and the sampling broker is unreachable (NATS is "
                "down); try again later or use a client that supports MCP sampling."
            )
        request = BrokerRequest(service=self.service, principal=ctx.principal, params=params)
        try:
            msg = await self.nc.request(
                self.subject, msgspec.msgpack.encode(request), timeout=self.timeout
            )
        except NoRespondersError:
            raise SamplingRefused(
                "The client cannot sample and no sampling broker is running: configure an "
                "LLM backend (MCPMESH_SAMPLING_LLM_URL) or use a client that supports MCP "
                "sampling."
            ) from None
        except (TimeoutError, nats.errors.TimeoutError):
            raise SamplingRefused(
                f"The sampling broker did not answer within {self.timeout:g} s."
            ) from None
        reply = msgspec.msgpack.decode(msg.data, type=BrokerReply)
        if reply.error is not None or reply.result is None:
            raise SamplingRefused(f"The sampling broker refused: {reply.error}")
        return reply.result


class LocalSampler:
    """``service.sampling_fallback`` without the bus: the LLM backend, in-process."""

    def __init__(self, backend: LlmBackend) -> None:
        self.backend = backend

    async def __call__(self, ctx: Context, params: CreateMessageParams) -> CreateMessageResult:
        try:
            return await self.backend.complete(params)
        except LlmError as exc:
            raise SamplingRefused(f"The LLM backend refused: {exc}") from None


__all__ = [
    "AnthropicMessages",
    "BusSampler",
    "KvRateLimiter",
    "LocalSampler",
    "MemoryRateLimiter",
    "OpenAiChat",
    "SamplingBroker",
    "SamplingMessage",
    "SamplingPolicy",
    "SamplingRefused",
]
