"""Sampling over the bus: the broker, the fallback that asks it, the shared rate limit.

``ctx.sample()`` goes to the client when it declared sampling. Otherwise the service's
``sampling_fallback`` (:class:`BusSampler`) sends the request over NATS
(``P.sampling.request``, queue group ``P-sampling``: one broker answers) to a
:class:`SamplingBroker` that calls the configured LLM API (:mod:`mcpmesh.bus.policy`), or
the tool gets a clear refusal when no broker runs. The per-principal rate limit is
counted in a KV bucket (:class:`KvRateLimiter`), so replicas share it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import msgspec
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from mcpmesh.bus.policy import LlmBackend, LlmError, SamplingRefused
from mcpmesh.obs import tracing
from mcpmesh.protocol.types import CreateMessageParams, CreateMessageResult
from mcpmesh.server.context import Context, SamplingUnavailable


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


class NoBroker(SamplingRefused, SamplingUnavailable):
    """No sampling broker answers on the bus."""


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
        who = ctx.principal.key if ctx.principal is not None else None
        request = BrokerRequest(service=self.service, principal=who, params=params)
        try:
            with tracing.span("nats sampling_request", kind="client"):
                msg = await self.nc.request(
                    self.subject,
                    msgspec.msgpack.encode(request),
                    timeout=self.timeout,
                    headers=tracing.current_traceparent() or None,
                )
        except NoRespondersError:
            raise NoBroker(
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
