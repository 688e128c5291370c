"""The handler's window on one request: logging, progress, sampling, elicitation.

A handler never sees HTTP, JSON-RPC ids or sessions; it asks its :class:`Context`.
The transport supplies a :class:`Channel` that knows where this request's messages go
(the request's SSE stream, across replicas when the bus is on).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from mcpmesh.auth.principal import Principal
from mcpmesh.config import ServerSettings
from mcpmesh.guard.redaction import redact_text, redact_value
from mcpmesh.protocol import versions
from mcpmesh.protocol.errors import McpError
from mcpmesh.protocol.session import SessionState
from mcpmesh.protocol.types import (
    LOG_LEVELS,
    CreateMessageParams,
    CreateMessageResult,
    ElicitParams,
    ElicitResult,
    ListRootsResult,
    LoggingMessageParams,
    LogLevel,
    ModelHint,
    ModelPreferences,
    ProgressParams,
    ProgressToken,
    RequestId,
    Root,
    SamplingMessage,
    TextContent,
)
from mcpmesh.protocol.v2026 import ElicitInput, RootsInput, SamplingInput
from mcpmesh.secrets.provider import CredentialKind, SecretProvider
from mcpmesh.server.mrtr import AnswerBook, InputRequired
from mcpmesh.server.results import ToolError
from mcpmesh.server.schema import input_schema

StateT = TypeVar("StateT")
_LEVEL_RANK = {level: rank for rank, level in enumerate(LOG_LEVELS)}


class ClientCapabilityError(ToolError):
    """The client did not declare what a server→client request needs."""


class SamplingUnavailable(ToolError):
    """The sampling fallback has no backend to reach (no broker runs anywhere). On the
    2026 wire the question then goes to the client, which needs the sampling capability."""


class ClientRequestError(ToolError):
    """The client answered a server→client request with an error, or not in time."""


class ConfirmationDeclined(ToolError):
    """The user did not say yes to an action, so it was not done.

    Raised by :meth:`Context.confirm`; like any :class:`ToolError` the library renders it
    as the tool's result, so every service answers a declined, cancelled, unanswered or
    not-quite-yes confirmation the same way: ``isError: true`` and this message (the
    model must not take the action as done).
    """


class Channel(Protocol):
    """The transport's side of one request."""

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification related to this request."""

    async def request(self, method: str, params: Any, timeout: float) -> msgspec.Raw:
        """Send a request to the client and wait for its result (raises McpError on error)."""

    async def close_stream(self) -> None:
        """Close the request's SSE stream now; the client resumes it with GET + Last-Event-ID."""


_CONFIRM_SCHEMA = {
    "type": "object",
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": "Confirm",
            "description": "Allow this action",
            "default": False,
        }
    },
    "required": ["confirm"],
}


class AuditHook(Protocol):
    """``(kind, tool, session, arguments, outcome, seconds, *, principal, credential)``:
    told of every tool call, sampling request and elicitation (kind
    ``tool``/``sampling``/``elicitation``); ``principal`` is the caller's
    :attr:`~mcpmesh.auth.Principal.key` and ``credential`` which kind of upstream
    credential the call used (``user``/``shared``, never the value). Must not block (the
    bus queues the event and publishes it in the background)."""

    def __call__(
        self,
        kind: str,
        tool: str | None,
        session: SessionState,
        arguments: Any,
        outcome: str,
        seconds: float,
        *,
        principal: str | None = None,
        credential: CredentialKind | None = None,
    ) -> None: ...


#: Checks (raises ToolError to refuse) and adjusts every sampling request before it goes out.
SamplingPolicy = Callable[["Context[Any]", CreateMessageParams], Awaitable[CreateMessageParams]]
#: Where ``ctx.sample()`` goes when the client cannot sample (the LLM backend).
SamplingFallback = Callable[["Context[Any]", CreateMessageParams], Awaitable[CreateMessageResult]]


class Context(Generic[StateT]):
    """Created by the library for every request that runs service code.

    ``state`` is what the service's lifespan yielded (typed by ``Context[State]``);
    ``method``/``params`` are the JSON-RPC method and its decoded params Struct, for the
    middleware. The hooks below are set per request by middleware, never by handlers.
    """

    __slots__ = (
        "_channel",
        "answers",
        "audit_hook",
        "credential",
        "method",
        "params",
        "principal",
        "progress_token",
        "request_id",
        "sampling_fallback",
        "sampling_policy",
        "secrets",
        "session",
        "settings",
        "state",
        "tool",
    )

    def __init__(
        self,
        session: SessionState,
        request_id: RequestId | None,
        channel: Channel,
        progress_token: ProgressToken | None = None,
        *,
        method: str = "",
        params: Any = None,
        state: StateT,
        secrets: SecretProvider,
        settings: ServerSettings,
        principal: Principal | None = None,
    ) -> None:
        self.session = session
        self.request_id = request_id
        self.progress_token = progress_token
        self._channel = channel
        self.method = method
        self.params = params
        self.state = state
        #: The service's credential provider (see :mod:`mcpmesh.secrets`).
        self.secrets = secrets
        self.settings = settings
        #: Who is calling (from the transport's authenticator); ``None`` when auth is off.
        self.principal = principal
        #: The tool being called (``None`` for resources, prompts, completions).
        self.tool: str | None = None
        self.audit_hook: AuditHook | None = None
        #: Which kind of upstream credential this request used (``shared`` wins once any
        #: shared one was used); ``None``: none. For the audit event.
        self.credential: CredentialKind | None = None
        self.sampling_policy: SamplingPolicy | None = None
        self.sampling_fallback: SamplingFallback | None = None
        #: Set by the ``mrtr`` middleware on the 2026 wire: questions are answered from
        #: this book (or end the attempt with ``input_required``) instead of a request.
        self.answers: AnswerBook | None = None

    # ------------------------------------------------------------ identity

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def principal_key(self) -> str | None:
        """The caller's :attr:`~mcpmesh.auth.Principal.key` (audit, logs, rate limits)."""
        return self.principal.key if self.principal is not None else None

    def used_credential(self, kind: CredentialKind) -> None:
        """Note the kind of upstream credential the request used (``ctx.secrets`` calls it)."""
        if self.credential != "shared":
            self.credential = kind

    def audit(self, kind: str, arguments: Any, outcome: str, seconds: float) -> None:
        """Record a sampling request or elicitation in the audit trail (if one is on)."""
        if self.audit_hook is not None:
            self.audit_hook(
                kind,
                self.tool,
                self.session,
                arguments,
                outcome,
                seconds,
                principal=self.principal_key,
                credential=self.credential,
            )

    # ------------------------------------------------------------ logging and progress

    async def log(self, level: LogLevel, data: Any, logger: str | None = None) -> None:
        """Send a log message to the client if it asked for this level or above (on the
        2026 wire a request that names no ``logLevel`` gets none)."""
        wanted = self.session.log_level
        if wanted is None or _LEVEL_RANK[level] < _LEVEL_RANK[wanted]:
            return
        # Log data goes to the client as it is: keep handed-out secrets and token-shaped
        # strings out of it, as the result filter does for tool results.
        params = LoggingMessageParams(level=level, data=redact_value(data), logger=logger)
        await self._channel.notify("notifications/message", params)

    async def debug(self, data: Any) -> None:
        await self.log("debug", data)

    async def info(self, data: Any) -> None:
        await self.log("info", data)

    async def warning(self, data: Any) -> None:
        await self.log("warning", data)

    async def error(self, data: Any) -> None:
        await self.log("error", data)

    async def progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report progress; a no-op when the client did not ask for progress."""
        if self.progress_token is None:
            return
        await self._channel.notify(
            "notifications/progress",
            ProgressParams(
                self.progress_token,
                progress,
                total=total,
                message=None if message is None else redact_text(message),
            ),
        )

    async def close_stream(self) -> None:
        """Let the client poll (SEP-1699): end the response stream now, keep working, and
        deliver the rest when the client comes back with ``Last-Event-ID``."""
        await self._channel.close_stream()

    # ------------------------------------------------------------ server -> client

    async def sample(
        self,
        prompt: str | list[SamplingMessage],
        *,
        max_tokens: int,
        system_prompt: str | None = None,
        temperature: float | None = None,
        model_hints: list[str] | None = None,
        stop_sequences: list[str] | None = None,
        timeout: float | None = None,
        key: str | None = None,
    ) -> CreateMessageResult:
        """Ask the client's model for a completion (``sampling/createMessage``).

        ``key`` names the question on the 2026 wire (its ``inputRequests`` key)."""
        messages = (
            [SamplingMessage(role="user", content=TextContent(prompt))]
            if isinstance(prompt, str)
            else prompt
        )
        params = CreateMessageParams(
            messages=messages,
            max_tokens=max_tokens,
            system_prompt=system_prompt,
            temperature=temperature,
            stop_sequences=stop_sequences,
            model_preferences=(
                ModelPreferences(hints=[ModelHint(name=h) for h in model_hints])
                if model_hints
                else None
            ),
        )
        with self.answers.question() if self.answers is not None else contextlib.nullcontext():
            return await self._sample_checked(params, timeout, key)

    async def _sample_checked(
        self, params: CreateMessageParams, timeout: float | None, key: str | None
    ) -> CreateMessageResult:
        if self.sampling_policy is None and self.audit_hook is None:
            return await self._sample(params, timeout, key)
        started = time.perf_counter()
        outcome = "failed"
        try:
            if self.sampling_policy is not None:
                params = await self.sampling_policy(self, params)
            result = await self._sample(params, timeout, key)
            outcome = "ok"
            return result
        except ToolError as exc:
            outcome = f"refused: {exc}"[:200]
            raise
        except InputRequired:
            outcome = "input_required"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            self.audit(
                "sampling", msgspec.json.encode(params), outcome, time.perf_counter() - started
            )

    async def _sample(
        self, params: CreateMessageParams, timeout: float | None, key: str | None
    ) -> CreateMessageResult:
        if self.answers is not None:
            fallback = self.sampling_fallback
            if self.session.capabilities.sampling is None and fallback is not None:
                try:  # the broker serves 2026 clients that cannot sample, as on 2025
                    return await fallback(self, params)
                except SamplingUnavailable:
                    pass  # no broker: asking the client is -32021 without the capability
            return await self.answers.ask(
                SamplingInput(params=params), CreateMessageResult, key=key
            )
        if self.session.capabilities.sampling is None:
            fallback = self.sampling_fallback
            if fallback is not None:
                return await fallback(self, params)
            raise ClientCapabilityError(
                "This tool needs to ask a language model, but the client did not declare "
                "the sampling capability. Use a client that supports MCP sampling."
            )
        raw = await self._ask("sampling/createMessage", params, timeout)
        return _decode_reply(raw, CreateMessageResult, "sampling/createMessage")

    async def elicit(
        self,
        message: str,
        schema: dict[str, Any] | type,
        *,
        timeout: float | None = None,
        key: str | None = None,
    ) -> ElicitResult:
        """Ask the user for structured input (form-mode ``elicitation/create``).

        ``schema`` is a flat object schema of primitives, or a Struct type to derive it
        from. The answer's ``action`` is ``accept``, ``decline`` or ``cancel``; an accepted
        answer's content has been checked against ``schema`` (a mismatch raises
        :class:`ClientRequestError`: a client's form is input like any other). ``key``
        names the question on the 2026 wire (its ``inputRequests`` key).
        """
        if self.answers is None and (
            self.session.capabilities.elicitation is None
            or not versions.has_elicitation(self.session.protocol_version)
        ):
            raise ClientCapabilityError(
                "This tool needs to ask you a question, but the client did not declare the "
                "elicitation capability. Use a client that supports MCP elicitation."
            )
        requested = schema if isinstance(schema, dict) else input_schema(schema)
        params = ElicitParams(message=message, requested_schema=requested)
        started = time.perf_counter()
        outcome = "failed"
        try:
            answer: ElicitResult
            if self.answers is not None:
                answer = await self.answers.ask(ElicitInput(params=params), ElicitResult, key=key)
            else:
                raw = await self._ask("elicitation/create", params, timeout)
                answer = _decode_reply(raw, ElicitResult, "elicitation/create")
            if answer.action == "accept":
                outcome = "invalid answer"
                _check_answer(answer.content, requested)
            outcome = answer.action
            return answer
        except InputRequired:
            outcome = "input_required"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            if self.audit_hook is not None:
                self.audit(
                    "elicitation",
                    msgspec.json.encode(params),
                    outcome,
                    time.perf_counter() - started,
                )

    async def confirm(
        self, message: str, *, timeout: float | None = None, key: str | None = None
    ) -> None:
        """Ask the user to allow an action; returns only on an explicit yes.

        Yes is ``action: accept`` with ``confirm`` the JSON boolean ``true``. Anything
        else — decline, cancel, ``{"confirm": false}``, ``"true"``/``"no"``/``1``, no
        field, a malformed or late answer — raises :class:`ConfirmationDeclined`, which
        the library renders as the one "not done" result. So a handler writes
        ``await ctx.confirm(question)`` and then acts; it cannot forget to check.
        ``key`` names the question on the 2026 wire (its ``inputRequests`` key).
        """
        try:
            answer = await self.elicit(message, _CONFIRM_SCHEMA, timeout=timeout, key=key)
        except ClientCapabilityError:
            raise ClientCapabilityError(
                "This action needs your confirmation, but the client cannot ask for it "
                "(no elicitation capability), so nothing was done."
            ) from None
        except ClientRequestError as exc:
            reason = str(exc).rstrip(".")
            raise ConfirmationDeclined(f"Not done: {reason}. Nothing was changed.") from None
        if answer.action != "accept":
            reason = "declined" if answer.action == "decline" else "cancelled"
            raise ConfirmationDeclined(
                f"Not done: the user {reason} the confirmation. Nothing was changed."
            )
        if (answer.content or {}).get("confirm") is not True:
            raise ConfirmationDeclined(
                "Not done: the user did not tick the confirmation. Nothing was changed."
            )

    async def list_roots(
        self, *, timeout: float | None = None, key: str | None = None
    ) -> list[Root]:
        """The client's roots (``roots/list``)."""
        if self.answers is not None:
            return (await self.answers.ask(RootsInput(), ListRootsResult, key=key)).roots
        if self.session.capabilities.roots is None:
            raise ClientCapabilityError("The client did not declare the roots capability.")
        raw = await self._ask("roots/list", {}, timeout)
        return _decode_reply(raw, ListRootsResult, "roots/list").roots

    async def _ask(self, method: str, params: Any, timeout: float | None) -> msgspec.Raw:
        limit = self.settings.client_request_timeout if timeout is None else timeout
        try:
            return await self._channel.request(method, params, limit)
        except TimeoutError:
            raise ClientRequestError(
                f"The client did not answer the {method} request within {limit:g} s."
            ) from None
        except McpError as exc:
            raise ClientRequestError(
                f"The client refused the {method} request: {exc.message}"
            ) from None

    # ------------------------------------------------------------ cancellation

    @property
    def cancelled(self) -> bool:
        """True once the client cancelled this request (the handler task is cancelling)."""
        task = asyncio.current_task()
        return task is not None and task.cancelling() > 0


def _check_answer(content: dict[str, Any] | None, schema: dict[str, Any]) -> None:
    """An accepted elicitation answer must fit the schema that was asked for."""
    # Imported here: only elicitation needs it, and a service that never asks carries
    # none of its ~5 MB (its compiled Rust library) at idle.
    import jsonschema_rs

    error = next(iter(jsonschema_rs.validator_for(schema).iter_errors(content or {})), None)
    if error is not None:
        where = "/".join(str(part) for part in error.instance_path) or "the answer"
        raise ClientRequestError(
            f"The client's answer does not fit the form that was asked for ({where}: "
            f"{error.message})."
        )


def _decode_reply(raw: msgspec.Raw, type_: type, method: str) -> Any:
    try:
        return msgspec.json.decode(raw, type=type_)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ClientRequestError(f"The client's answer to {method} is malformed: {exc}") from None
