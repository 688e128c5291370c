"""One ordered chain around every request that runs service code.

A middleware is ``async (ctx, call_next) -> result``: it may look at ``ctx.method``,
``ctx.params`` and ``ctx.tool``, refuse (raise ``McpError`` or
:class:`~mcpmesh.auth.AuthError`), set per-request hooks on the context, and change the
result. The composition root (:func:`mcpmesh.app.create_app`) builds the chain; nothing
installs itself on the :class:`~mcpmesh.server.service.Service`.

The entries the library ships are here: :func:`authorize` (scopes, first when
authentication is on), :func:`caller_credentials`, :func:`audit`,
:func:`redact_results` and :func:`sampling`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from mcpmesh.auth.principal import AuthError
from mcpmesh.guard.redaction import redact_result
from mcpmesh.protocol.errors import McpError
from mcpmesh.protocol.types import CallToolParams, CallToolResult, ListToolsResult
from mcpmesh.secrets.caller import CallerSecrets
from mcpmesh.server.context import AuditHook, Context, SamplingFallback, SamplingPolicy
from mcpmesh.server.tools import ToolSpec

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


#: Builds the 403 ``insufficient_scope`` refusal naming every scope a call needs
#: (:meth:`mcpmesh.auth.Authenticator.insufficient_scope`).
ScopeRefusal = Callable[[Sequence[str]], AuthError]


def authorize(
    refuse: ScopeRefusal,
    tools: Mapping[str, ToolSpec],
    service_name: str,
    *,
    list_all_tools: bool = False,
) -> Middleware:
    """Scopes: a tool call needs every scope of its tool (``service.tools[name].scopes``),
    anything else that runs service code (resources, prompts, completions) the service's
    read scope ``<service>:read``. ``tools/list`` shows only the tools the caller's token
    allows, unless ``list_all_tools`` (``MCPMESH_AUTH_LIST_ALL_TOOLS``). A request with no
    principal (authentication off) passes untouched."""

    async def entry(ctx: Context[Any], call_next: CallNext) -> Any:
        principal = ctx.principal
        if principal is None:
            return await call_next(ctx)
        granted = principal.scopes
        if ctx.method == "tools/call":
            spec = tools.get(ctx.tool) if ctx.tool is not None else None
            if spec is not None and not granted.issuperset(spec.scopes):
                raise refuse(spec.scopes)
            return await call_next(ctx)
        if ctx.method == "tools/list":
            result: ListToolsResult = await call_next(ctx)
            if list_all_tools:
                return result
            allowed = [
                tool
                for tool in result.tools
                if tool.name in tools and granted.issuperset(tools[tool.name].scopes)
            ]
            return ListToolsResult(tools=allowed, next_cursor=result.next_cursor)
        read = f"{service_name}:read"
        if read not in granted:
            raise refuse([read])
        return await call_next(ctx)

    return entry


def caller_credentials(service_name: str, *, shared_allowed: bool) -> Middleware:
    """``ctx.secrets`` becomes the caller's view (:class:`~mcpmesh.secrets.caller.CallerSecrets`):
    a principal's own credential first, the service's shared one as fallback only when
    ``shared_allowed`` (``MCPMESH_<SVC>_SHARED_CREDENTIALS``), and ``ctx.credential``
    says which kind was used."""

    async def entry(ctx: Context[Any], call_next: CallNext) -> Any:
        ctx.secrets = CallerSecrets(
            ctx.secrets,
            service_name,
            shared_allowed=shared_allowed,
            used=ctx.used_credential,
            caller=ctx.principal,
        )
        return await call_next(ctx)

    return entry


#: Awaited before a tool runs: waits for room to record the call, or raises (the call is
#: refused, never run unrecorded) — the bus's ``Auditor.admit``.
Admission = Callable[[], Awaitable[None]]


def audit(hook: AuditHook, *, admit: Admission | None = None) -> Middleware:
    """Tell ``hook`` of every tool call, and (through the context) of every sampling
    request and elicitation a handler makes; with ``admit``, a tool call runs only once
    it has admitted it (the audit buffer has room)."""

    async def entry(ctx: Context[Any], call_next: CallNext) -> Any:
        ctx.audit_hook = hook
        if ctx.method != "tools/call":
            return await call_next(ctx)
        params: CallToolParams = ctx.params
        if admit is not None:
            await admit()
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
                principal=ctx.principal_key,
                credential=ctx.credential,
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
