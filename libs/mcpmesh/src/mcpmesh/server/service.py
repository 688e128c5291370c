"""``Service``: a named set of tools, resources and prompts, and the MCP method table.

The transport hands every decoded request to :meth:`Service.handle` with the session's
state and a :class:`~mcpmesh.server.context.Channel`; the service answers with a result
Struct or raises :class:`~mcpmesh.protocol.errors.McpError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal, Protocol

import msgspec

from mcpmesh.config import ServerSettings
from mcpmesh.protocol import versions
from mcpmesh.protocol.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    McpError,
    invalid_params,
    resource_not_found,
)
from mcpmesh.protocol.jsonrpc import Message, decode_params
from mcpmesh.protocol.session import SessionState
from mcpmesh.protocol.types import (
    CallToolParams,
    CallToolResult,
    CompleteParams,
    CompleteResult,
    Completion,
    CreateMessageParams,
    CreateMessageResult,
    EmptyResult,
    GetPromptParams,
    Icon,
    Implementation,
    InitializeParams,
    InitializeResult,
    ListChanged,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedParams,
    PromptReference,
    ReadResourceResult,
    Resource,
    ResourcesCapability,
    ResourceTemplate,
    ServerCapabilities,
    SetLevelParams,
    Tool,
    ToolAnnotations,
    UriParams,
)
from mcpmesh.server.context import Channel, Context
from mcpmesh.server.pagination import paginate
from mcpmesh.server.prompts import PromptSpec
from mcpmesh.server.resources import ResourceSpec, TemplateSpec
from mcpmesh.server.results import ToolError
from mcpmesh.server.tools import ToolSpec

Completer = Callable[[Context, str, str, dict[str, str]], Awaitable[list[str]]]
SamplingFallback = Callable[[Context, CreateMessageParams], Awaitable[CreateMessageResult]]
Handler = Callable[..., Awaitable[Any]]
Decorator = Callable[[Handler], Handler]
MethodHandler = Callable[[SessionState, Message, Channel], Awaitable[Any]]
NotificationHandler = Callable[[SessionState, msgspec.Raw], Awaitable[None]]
#: ``(kind, tool, session, arguments, outcome, seconds)``: told of every tool call,
#: sampling request and elicitation (kind ``tool``/``sampling``/``elicitation``);
#: must not block (the bus queues the event and publishes it in the background).
AuditHook = Callable[[str, str | None, SessionState, Any, str, float], None]
#: Checks (raises ToolError to refuse) and adjusts every sampling request before it goes out.
SamplingPolicy = Callable[[Context, CreateMessageParams], Awaitable[CreateMessageParams]]
ListKind = Literal["tools", "resources", "prompts"]

_MAX_COMPLETIONS = 100


@contextlib.contextmanager
def _tool_errors_as_protocol_errors() -> Iterator[None]:
    """Resources and prompts have no ``isError`` result: a handler's ToolError (a message
    meant for the user) becomes a JSON-RPC error carrying that message."""
    try:
        yield
    except ToolError as exc:
        raise McpError(INTERNAL_ERROR, str(exc)) from None


class ServiceHost(Protocol):
    """What the transport offers a service: session persistence and session-wide messages."""

    async def save_session(self, state: SessionState) -> None: ...

    async def resource_updated(self, uri: str) -> None: ...

    def subscribed_uris(self) -> set[str]: ...

    async def broadcast(self, method: str, params: Any) -> None: ...


class Service:
    """An MCP service. Declare tools, resources and prompts with the decorators."""

    def __init__(
        self,
        name: str,
        *,
        version: str,
        instructions: str | None = None,
        title: str | None = None,
        icons: list[Icon] | None = None,
        settings: ServerSettings | None = None,
    ) -> None:
        self.name = name
        self.info = Implementation(name=name, version=version, title=title, icons=icons)
        self.instructions = instructions
        self.settings = settings or ServerSettings()
        self.tools: dict[str, ToolSpec] = {}
        self.resources: dict[str, ResourceSpec] = {}
        self.templates: list[TemplateSpec] = []
        self.prompts: dict[str, PromptSpec] = {}
        self.completers: dict[tuple[str, str], Completer] = {}
        #: Where ``ctx.sample()`` goes when the client cannot sample (the bus sets this).
        self.sampling_fallback: SamplingFallback | None = None
        #: Caps and rate limits applied to every ``ctx.sample()`` (the bus sets this).
        self.sampling_policy: SamplingPolicy | None = None
        #: Audit trail of tool calls, sampling and elicitation (the bus's audit stream).
        self.audit_hooks: list[AuditHook] = []
        #: Awaited before a tool runs while auditing is on: each waits for room in its
        #: audit buffer or raises (the call is refused, never run unrecorded).
        self.audit_gates: list[Callable[[], Awaitable[None]]] = []
        #: Credentials for handlers (``ctx.secrets``); set by the service factory.
        self.secrets: Any = None
        #: Applied to every tool result before it leaves (secret redaction registers here).
        self.result_filters: list[Callable[[CallToolResult], CallToolResult]] = []
        #: Client notifications a service reacts to, e.g. ``notifications/roots/list_changed``:
        #: method → ``async (session, raw_params) -> None``.
        self.notification_handlers: dict[str, NotificationHandler] = {}
        #: Called once when the service starts and stops (``async (service) -> None``),
        #: for backends a service opens: pools, bus connections, secret providers.
        self.on_startup: list[Callable[[Service], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[Service], Awaitable[None]]] = []
        #: Checks run by ``/readyz``: name → coroutine returning None or a problem.
        self.readiness_checks: dict[str, Callable[[], Awaitable[str | None]]] = {}
        self.host: ServiceHost | None = None
        self._tool_lists: dict[str, list[Tool]] = {}
        self._methods: dict[str, MethodHandler] = {
            "ping": self._ping,
            "logging/setLevel": self._set_level,
            "tools/list": self._list_tools,
            "tools/call": self._call_tool,
            "resources/list": self._list_resources,
            "resources/templates/list": self._list_templates,
            "resources/read": self._read_resource,
            "resources/subscribe": self._subscribe,
            "resources/unsubscribe": self._unsubscribe,
            "prompts/list": self._list_prompts,
            "prompts/get": self._get_prompt,
            "completion/complete": self._complete,
        }

    # ------------------------------------------------------------ declaring

    def tool(
        self,
        name: str | None = None,
        *,
        title: str | None = None,
        description: str | None = None,
        read_only: bool = False,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        icons: list[Icon] | None = None,
        input_schema: dict[str, Any] | None = None,
        output: type | None = None,
    ) -> Decorator:
        """Register a tool. Its arguments Struct gives ``inputSchema``; a Struct return
        type gives ``outputSchema`` and ``structuredContent``; the docstring describes it.

        ``read_only=True`` marks it ``readOnlyHint`` (and so not destructive);
        otherwise ``destructive`` defaults to True, as the spec assumes.
        """

        def register(handler: Handler) -> Handler:
            tool_name = name or handler.__name__
            if tool_name in self.tools:
                raise ValueError(f"tool {tool_name!r} is already registered")
            annotations = ToolAnnotations(
                title=title,
                read_only_hint=read_only,
                destructive_hint=None
                if read_only
                else (True if destructive is None else destructive),
                idempotent_hint=idempotent,
                open_world_hint=open_world,
            )
            self.tools[tool_name] = ToolSpec(
                handler,
                name=tool_name,
                description=description or inspect.getdoc(handler) or tool_name,
                title=title,
                annotations=annotations,
                icons=icons,
                input_schema=input_schema,
                output_type=output,
            )
            self._tool_lists.clear()
            return handler

        return register

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        icons: list[Icon] | None = None,
    ) -> Decorator:
        """Register a fixed resource; the handler ``(ctx)`` returns str, bytes or contents."""

        def register(handler: Handler) -> Handler:
            resource = Resource(
                uri=uri,
                name=name or handler.__name__,
                title=title,
                description=description or inspect.getdoc(handler),
                mime_type=mime_type,
                icons=icons,
            )
            self.resources[uri] = ResourceSpec(resource, handler)
            return handler

        return register

    def resource_template(
        self,
        uri_template: str,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        icons: list[Icon] | None = None,
    ) -> Decorator:
        """Register a resource template; the handler gets ``(ctx, uri, **variables)``."""

        def register(handler: Handler) -> Handler:
            template = ResourceTemplate(
                uri_template=uri_template,
                name=name or handler.__name__,
                title=title,
                description=description or inspect.getdoc(handler),
                mime_type=mime_type,
                icons=icons,
            )
            self.templates.append(TemplateSpec(template, handler))
            return handler

        return register

    def prompt(
        self,
        name: str | None = None,
        *,
        title: str | None = None,
        description: str | None = None,
        icons: list[Icon] | None = None,
    ) -> Decorator:
        """Register a prompt; its arguments come from a Struct of string fields."""

        def register(handler: Handler) -> Handler:
            prompt_name = name or handler.__name__
            self.prompts[prompt_name] = PromptSpec(
                handler,
                name=prompt_name,
                title=title,
                description=description or inspect.getdoc(handler),
                icons=icons,
            )
            return handler

        return register

    def completion(
        self, *, prompt: str | None = None, resource_template: str | None = None
    ) -> Callable[[Completer], Completer]:
        """Register argument completion for a prompt or a resource template.

        The completer gets ``(ctx, argument_name, partial_value, other_arguments)`` and
        returns candidate values; the library caps the list at 100.
        """
        if (prompt is None) == (resource_template is None):
            raise ValueError("name exactly one of prompt= or resource_template=")
        key = ("ref/prompt", prompt) if prompt else ("ref/resource", resource_template or "")

        def register(completer: Completer) -> Completer:
            self.completers[key] = completer
            return completer

        return register

    # ------------------------------------------------------------ notifying

    async def notify_resource_updated(self, uri: str) -> None:
        """Tell every session subscribed to ``uri`` that it changed."""
        if self.host is not None:
            await self.host.resource_updated(uri)

    def subscribed_uris(self) -> set[str]:
        """The resource URIs that sessions served here subscribed to: what a service that
        detects changes itself (by polling or watching) needs to look at."""
        return self.host.subscribed_uris() if self.host is not None else set()

    async def notify_list_changed(self, kind: ListKind) -> None:
        """Tell every session that the list of tools, resources or prompts changed."""
        self._tool_lists.clear()
        if self.host is not None:
            await self.host.broadcast(f"notifications/{kind}/list_changed", None)

    # ------------------------------------------------------------ protocol

    @property
    def capabilities(self) -> ServerCapabilities:
        return ServerCapabilities(
            tools=ListChanged(list_changed=True),
            resources=ResourcesCapability(subscribe=True, list_changed=True),
            prompts=ListChanged(list_changed=True),
            logging={},
            completions={},
        )

    def initialize(self, params: InitializeParams) -> InitializeResult:
        version = versions.negotiate(params.protocol_version)
        info = self.info
        if not versions.has_icons(version):
            info = msgspec.structs.replace(info, icons=None)
        return InitializeResult(
            protocol_version=version,
            capabilities=self.capabilities,
            server_info=info,
            instructions=self.instructions,
        )

    async def handle(self, session: SessionState, message: Message, channel: Channel) -> Any:
        """Answer one request; raises :class:`McpError` for protocol failures."""
        method = message.method
        handler = self._methods.get(method)  # type: ignore[arg-type]
        if handler is None:
            raise McpError(METHOD_NOT_FOUND, f"Method not found: {method}")
        return await handler(session, message, channel)

    def context(
        self, session: SessionState, message: Message, channel: Channel, meta: Any
    ) -> Context:
        token = meta.progress_token if meta is not None else None
        return Context(self, session, message.request_id, channel, token)

    async def _ping(self, session: SessionState, message: Message, channel: Channel) -> EmptyResult:
        return EmptyResult()

    async def _set_level(
        self, session: SessionState, message: Message, channel: Channel
    ) -> EmptyResult:
        session.log_level = decode_params(message.params, SetLevelParams).level
        await self._save(session)
        return EmptyResult()

    def _tools_for(self, version: str) -> list[Tool]:
        tools = self._tool_lists.get(version)
        if tools is None:
            tools = [spec.tool for spec in self.tools.values()]
            if not versions.has_structured_content(version):
                tools = [msgspec.structs.replace(t, output_schema=None, title=None) for t in tools]
            if not versions.has_icons(version):
                tools = [msgspec.structs.replace(t, icons=None) for t in tools]
            self._tool_lists[version] = tools
        return tools

    async def _list_tools(
        self, session: SessionState, message: Message, channel: Channel
    ) -> ListToolsResult:
        cursor = decode_params(message.params, PaginatedParams).cursor
        page, next_cursor = paginate(
            "tools", self._tools_for(session.protocol_version), cursor, self.settings.page_size
        )
        return ListToolsResult(tools=page, next_cursor=next_cursor)

    def audit(
        self,
        kind: str,
        tool: str | None,
        session: SessionState,
        arguments: Any,
        outcome: str,
        seconds: float,
    ) -> None:
        for hook in self.audit_hooks:
            hook(kind, tool, session, arguments, outcome, seconds)

    async def _call_tool(
        self, session: SessionState, message: Message, channel: Channel
    ) -> CallToolResult:
        params = decode_params(message.params, CallToolParams)
        if not self.audit_hooks:
            return await self._run_tool(session, message, channel, params)
        for gate in self.audit_gates:
            await gate()
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await self._run_tool(session, message, channel, params)
            outcome = "error" if result.is_error else "ok"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except McpError as exc:
            outcome = f"rejected: {exc.message}"[:200]
            raise
        finally:
            self.audit(
                "tool",
                params.name,
                session,
                params.arguments,
                outcome,
                time.perf_counter() - started,
            )

    async def _run_tool(
        self, session: SessionState, message: Message, channel: Channel, params: CallToolParams
    ) -> CallToolResult:
        spec = self.tools.get(params.name)
        if spec is None:
            raise invalid_params(f"Unknown tool: {params.name}")
        ctx = self.context(session, message, channel, params.meta)
        ctx.tool = params.name
        result = await spec.call(ctx, params.arguments)
        for result_filter in self.result_filters:
            result = result_filter(result)
        if result.structured_content is not None and not versions.has_structured_content(
            session.protocol_version
        ):
            result = msgspec.structs.replace(result, structured_content=None)
        return result

    async def _list_resources(
        self, session: SessionState, message: Message, channel: Channel
    ) -> ListResourcesResult:
        cursor = decode_params(message.params, PaginatedParams).cursor
        items = [spec.resource for spec in self.resources.values()]
        page, next_cursor = paginate("resources", items, cursor, self.settings.page_size)
        return ListResourcesResult(resources=page, next_cursor=next_cursor)

    async def _list_templates(
        self, session: SessionState, message: Message, channel: Channel
    ) -> ListResourceTemplatesResult:
        cursor = decode_params(message.params, PaginatedParams).cursor
        items = [spec.template for spec in self.templates]
        page, next_cursor = paginate("templates", items, cursor, self.settings.page_size)
        return ListResourceTemplatesResult(resource_templates=page, next_cursor=next_cursor)

    async def _read_resource(
        self, session: SessionState, message: Message, channel: Channel
    ) -> ReadResourceResult:
        params = decode_params(message.params, UriParams)
        ctx = self.context(session, message, channel, params.meta)
        fixed = self.resources.get(params.uri)
        with _tool_errors_as_protocol_errors():
            if fixed is not None:
                return ReadResourceResult(contents=await fixed.read(ctx, params.uri))
            for spec in self.templates:
                variables = spec.matcher.match(params.uri)
                if variables is not None:
                    return ReadResourceResult(contents=await spec.read(ctx, params.uri, variables))
        raise resource_not_found(params.uri)

    def _known_uri(self, uri: str) -> bool:
        return uri in self.resources or any(
            s.matcher.match(uri) is not None for s in self.templates
        )

    async def _subscribe(
        self, session: SessionState, message: Message, channel: Channel
    ) -> EmptyResult:
        uri = decode_params(message.params, UriParams).uri
        if not self._known_uri(uri):
            raise resource_not_found(uri)
        if uri not in session.subscriptions:
            session.subscriptions.append(uri)
            await self._save(session)
        return EmptyResult()

    async def _unsubscribe(
        self, session: SessionState, message: Message, channel: Channel
    ) -> EmptyResult:
        uri = decode_params(message.params, UriParams).uri
        if uri in session.subscriptions:
            session.subscriptions.remove(uri)
            await self._save(session)
        return EmptyResult()

    async def _list_prompts(
        self, session: SessionState, message: Message, channel: Channel
    ) -> ListPromptsResult:
        cursor = decode_params(message.params, PaginatedParams).cursor
        items = [spec.prompt for spec in self.prompts.values()]
        page, next_cursor = paginate("prompts", items, cursor, self.settings.page_size)
        return ListPromptsResult(prompts=page, next_cursor=next_cursor)

    async def _get_prompt(self, session: SessionState, message: Message, channel: Channel) -> Any:
        params = decode_params(message.params, GetPromptParams)
        spec = self.prompts.get(params.name)
        if spec is None:
            raise invalid_params(f"Unknown prompt: {params.name}")
        with _tool_errors_as_protocol_errors():
            return await spec.get(
                self.context(session, message, channel, params.meta), params.arguments
            )

    async def _complete(
        self, session: SessionState, message: Message, channel: Channel
    ) -> CompleteResult:
        params = decode_params(message.params, CompleteParams)
        ref = params.ref
        if isinstance(ref, PromptReference):
            if ref.name not in self.prompts:
                raise invalid_params(f"Unknown prompt: {ref.name}")
            key = ("ref/prompt", ref.name)
        else:
            if not any(s.template.uri_template == ref.uri for s in self.templates):
                raise invalid_params(f"Unknown resource template: {ref.uri}")
            key = ("ref/resource", ref.uri)
        completer = self.completers.get(key)
        values: list[str] = []
        if completer is not None:
            other = params.context.arguments if params.context and params.context.arguments else {}
            ctx = self.context(session, message, channel, None)
            values = await completer(ctx, params.argument.name, params.argument.value, other)
        return CompleteResult(
            completion=Completion(
                values=values[:_MAX_COMPLETIONS],
                total=len(values),
                has_more=len(values) > _MAX_COMPLETIONS,
            )
        )

    async def _save(self, session: SessionState) -> None:
        if self.host is not None:
            await self.host.save_session(session)
