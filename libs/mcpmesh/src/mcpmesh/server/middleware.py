"""One ordered chain around every request that runs service code.

A middleware is ``async (ctx, call_next) -> result``: it may look at ``ctx.method``,
``ctx.params`` and ``ctx.tool``, refuse (raise ``McpError`` or
:class:`~mcpmesh.auth.AuthError`), set per-request hooks on the context, and change the
result. The composition root (:func:`mcpmesh.app.create_app`) builds the chain; nothing
installs itself on the :class:`~mcpmesh.server.service.Service`.

The entries the library ships are here: :func:`audit`, :func:`redact_results` and
:func:`sampling`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from mcpmesh.guard.redaction import redact_result
from mcpmesh.protocol.errors import McpError
from mcpmesh.protocol.session import SessionState
from mcpmesh.protocol.types import CallToolParams, CallToolResult
from mcpmesh.server.context import AuditHook, Context, SamplingFallback, SamplingPolicy

CallNext = Callable[[Context[Any]], Awaitable[Any]]
Middleware = Callable[[Context[Any], CallNext], Awaitable[Any]]

#: The methods whose requests run service code, and so pass the chain.
CHAINED_METHODS = frozenset(
    {
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "prompts/list",
        "prompts/get",
        "completion/complete",
    }
)


def compose(middleware: Sequence[Middleware], endpoint: CallNext) -> CallNext:
    """``middleware[0]`` outermost, ``endpoint`` innermost; built once, not per request."""
    call = endpoint
    for entry in reversed(middleware):
        call = _bind(entry, call)
    return call


def _bind(entry: Middleware, call_next: CallNext) -> CallNext:
    async def call(ctx: Context[Any]) -> Any:
        return await entry(ctx, call_next)

    return call


class AuditRecorder(Protocol):
    """Where audit events go (the bus's :class:`~mcpmesh.bus.audit.Auditor`)."""

    async def admit(self) -> None:
        """Before a tool runs: wait for room to record it, or raise (the call is refused,
        never run unrecorded)."""
        ...

    def record(
        self,
        kind: str,
        tool: str | None,
        session: SessionState,
        arguments: Any,
        outcome: str,
        seconds: float,
        *,
        principal: str | None = None,
    ) -> None:
        """Buffer one event; must not block."""
        ...


def audit(recorder: AuditRecorder) -> Middleware:
    """Record every tool call (admitted first, so none runs unrecorded), and (through the
    context) every sampling request and elicitation a handler makes, with the caller's
    ``Principal.key``."""

    async def entry(ctx: Context[Any], call_next: CallNext) -> Any:
        hook: AuditHook = (
            recorder.record
            if ctx.principal is None
            else functools.partial(recorder.record, principal=ctx.principal.key)
        )
        ctx.audit_hook = hook
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params: CallToolParams = ctx.params
        await recorder.admit()
        started = time.perf_counter()
        outcome = "failed"
        try:
            result: CallToolResult = await call_next(ctx)
            outcome = "error" if result.is_error else "ok"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except McpError as exc:
            outcome = f"rejected: {exc.message}"[:200]
            raise
        finally:
            hook(
                "tool",
                params.name,
                ctx.session,
                params.arguments,
                outcome,
                time.perf_counter() - started,
            )

    return entry


async def redact_results(ctx: Context[Any], call_next: CallNext) -> Any:
    """Handed-out secrets and token-shaped strings never leave in a tool result."""
    result = await call_next(ctx)
    if ctx.method == "tools/call":
        return redact_result(result)
    return result


def sampling(policy: SamplingPolicy | None, fallback: SamplingFallback | None) -> Middleware:
    """``ctx.sample()`` passes ``policy`` (caps, rate limit) and, when the client cannot
    sample, goes to ``fallback`` (the LLM backend, in-process or over the bus)."""

    async def entry(ctx: Context[Any], call_next: CallNext) -> Any:
        ctx.sampling_policy = policy
        ctx.sampling_fallback = fallback
        return await call_next(ctx)

    return entry
