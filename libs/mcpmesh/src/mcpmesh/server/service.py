"""``Service``: a named set of tools, resources and prompts, its lifespan, and the MCP
method table.

The transport asks :meth:`Service.prepare` for a :class:`~mcpmesh.server.context.Context`
(the params decoded once, by the type the method table names), runs the middleware chain
around :meth:`Service.dispatch`, and sends what comes back; protocol failures are raised
as :class:`~mcpmesh.protocol.errors.McpError`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Literal, NamedTuple, Protocol, overload

import msgspec
import structlog

from mcpmesh.auth.principal import Principal
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
from mcpmesh.secrets import SecretProvider, secrets_from_env
from mcpmesh.server.context import Channel, Context, StateT
from mcpmesh.server.middleware import CHAINED_METHODS
from mcpmesh.server.pagination import paginate
from mcpmesh.server.prompts import PromptSpec
from mcpmesh.server.resources import ResourceSpec, TemplateSpec
from mcpmesh.server.results import ToolError
from mcpmesh.server.tools import ToolSpec

log = structlog.get_logger("mcpmesh.service")

Completer = Callable[[Context[Any], str, str, dict[str, str]], Awaitable[list[str]]]
Handler = Callable[..., Awaitable[Any]]
Decorator = Callable[[Handler], Handler]
#: ``async (ctx) -> result``: one entry of the method table; its params are ``ctx.params``.
MethodHandler = Callable[[Context[Any]], Awaitable[Any]]
#: ``async (ctx) -> None``: a client notification the service reacts to.
NotificationHandler = Callable[[Context[Any]], Awaitable[None]]
#: ``async (state) -> None | problem``: one ``/readyz`` check.
ReadinessCheck = Callable[[Any], Awaitable[str | None]]
#: Opens what the service needs and yields its state; runs once per process.
Lifespan = Callable[["Service[StateT]"], AbstractAsyncContextManager[StateT]]
ListKind = Literal["tools", "resources", "prompts"]

_MAX_COMPLETIONS = 100


class Method(NamedTuple):
    """One entry of the method table: the params Struct (None: none) and the handler."""

    params: type | None
    handler: MethodHandler
    #: Runs service code, so passes the middleware chain.
    chained: bool


@contextlib.contextmanager
def _tool_errors_as_protocol_errors() -> Iterator[None]:
    """Resources and prompts have no ``isError`` result: a handler's ToolError (a message
    meant for the user) becomes a JSON-RPC error carrying that message."""
    try:
        yield
    except ToolError as exc:
        raise McpError(INTERNAL_ERROR, str(exc)) from None


class ServiceHost(Protocol):
    """What the transport offers a running service: session persistence and session-wide
    messages (the endpoint implements it)."""

    async def save_session(self, state: SessionState) -> None: ...

    async def resource_updated(self, uri: str) -> None: ...

    def subscribed_uris(self) -> set[str]: ...

    async def broadcast(self, method: str, params: Any) -> None: ...


class _NoChannel:
    """A notification's context: there is no request to answer on."""

    async def notify(self, method: str, params: Any) -> None:
        return None

    async def request(self, method: str, params: Any, timeout: float) -> msgspec.Raw:
        raise McpError(INTERNAL_ERROR, "a notification handler cannot ask the client")

    async def close_stream(self) -> None:
        return None


_NO_CHANNEL = _NoChannel()


class Service(Generic[StateT]):
    """An MCP service. Declare tools, resources and prompts with the decorators.

    ``lifespan`` opens what the service needs (pools, clients) and yields its state,
    reached by handlers as ``ctx.state``; ``secrets`` is the credential provider
    (default: :func:`~mcpmesh.secrets.secrets_from_env`), reached as ``ctx.secrets``.
    """

    @overload
    def __init__(
        self: Service[None],
        name: str,
        *,
        version: str,
        instructions: str | None = None,
        title: str | None = None,
        icons: list[Icon] | None = None,
        settings: ServerSettings | None = None,
        lifespan: None = None,
        secrets: SecretProvider | None = None,
        public: bool = False,
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str,
        *,
        version: str,
        instructions: str | None = None,
        title: str | None = None,
        icons: list[Icon] | None = None,
        settings: ServerSettings | None = None,
        lifespan: Lifespan[StateT],
        secrets: SecretProvider | None = None,
        public: bool = False,
    ) -> None: ...

    def __init__(
        self,
        name: str,
        *,
        version: str,
        instructions: str | None = None,
        title: str | None = None,
        icons: list[Icon] | None = None,
        settings: ServerSettings | None = None,
        lifespan: Lifespan[StateT] | None = None,
        secrets: SecretProvider | None = None,
        public: bool = False,
    ) -> None:
        self.name = name
        #: Holds no credentials and may serve any address without authentication (the
        #: conformance fixture); every other service refuses a non-loopback address
        #: without ``MCPMESH_AUTH_ISSUERS`` unless the operator opts out.
        self.public = public
        self.info = Implementation(name=name, version=version, title=title, icons=icons)
        self.instructions = instructions
        self.settings = settings or ServerSettings()
        self.tools: dict[str, ToolSpec] = {}
        self.resources: dict[str, ResourceSpec] = {}
        self.templates: list[TemplateSpec] = []
        self.prompts: dict[str, PromptSpec] = {}
        self.completers: dict[tuple[str, str], Completer] = {}
        #: Client notifications the service reacts to (``@service.on_notification``).
        self.notification_handlers: dict[str, NotificationHandler] = {}
        #: ``/readyz`` checks (``@service.readiness``): name → ``async (state) -> problem``.
        self.readiness_checks: dict[str, ReadinessCheck] = {}
        self._lifespan = lifespan
        self._secrets = secrets if secrets is not None else secrets_from_env(name)
        self._host: ServiceHost | None = None
        self._state: Any = None
        self._tool_lists: dict[str, list[Tool]] = {}
        table: dict[str, tuple[type | None, MethodHandler]] = {
            "ping": (None, self._ping),
            "logging/setLevel": (SetLevelParams, self._set_level),
            "tools/list": (PaginatedParams, self._list_tools),
            "tools/call": (CallToolParams, self._call_tool),
            "resources/list": (PaginatedParams, self._list_resources),
            "resources/templates/list": (PaginatedParams, self._list_templates),
            "resources/read": (UriParams, self._read_resource),
            "resources/subscribe": (UriParams, self._subscribe),
            "resources/unsubscribe": (UriParams, self._unsubscribe),
            "prompts/list": (PaginatedParams, self._list_prompts),
            "prompts/get": (GetPromptParams, self._get_prompt),
            "completion/complete": (CompleteParams, self._complete),
        }
        self._methods: dict[str, Method] = {
            method: Method(params, handler, method in CHAINED_METHODS)
            for method, (params, handler) in table.items()
        }

    @property
    def secrets(self) -> SecretProvider:
        """The credential provider (closed by the app at shutdown, after the lifespan)."""
        return self._secrets

    @property
    def state(self) -> StateT:
        """What the lifespan yielded, while the service runs (tests and benchmarks read it)."""
        if self._host is None:
            raise RuntimeError(f"service {self.name!r} is not running")
        state: StateT = self._state
        return state

    @contextlib.asynccontextmanager
    async def running(self, host: ServiceHost) -> AsyncIterator[StateT]:
        """Run the lifespan with ``host`` serving the sessions; the app enters this once."""
        if self._host is not None:
            raise RuntimeError(f"service {self.name!r} is already running")
        self._host = host
        try:
            if self._lifespan is None:
                yield self._state
            else:
                async with self._lifespan(self) as state:
                    self._state = state
                    yield state
        finally:
            self._host = None
            self._state = None

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
        scopes: list[str] | None = None,
    ) -> Decorator:
        """Register a tool. Its arguments Struct gives ``inputSchema``; a Struct return
        type gives ``outputSchema`` and ``structuredContent``; the docstring describes it.
        A raw ``input_schema`` (JSON Schema) is enforced on the arguments instead.

        ``read_only=True`` marks it ``readOnlyHint`` (and so not destructive);
        otherwise ``destructive`` defaults to True, as the spec assumes. ``scopes`` are
        what a caller needs (default ``<service>:read`` for a read-only tool, else
        ``<service>:write``); the authorization middleware checks them.
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
                scopes=scopes
                if scopes is not None
                else [f"{self.name}:{'read' if read_only else 'write'}"],
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

    def readiness(self, name: str) -> Callable[[ReadinessCheck], ReadinessCheck]:
        """Register a ``/readyz`` check: ``async (state) -> None`` when ready, else a
        problem text (an exception or a 2 s silence count as a problem too)."""

        def register(check: ReadinessCheck) -> ReadinessCheck:
            self.readiness_checks[name] = check
            return check

        return register

    def on_notification(self, method: str) -> Callable[[NotificationHandler], NotificationHandler]:
        """React to a client notification, e.g. ``notifications/roots/list_changed``; the
        handler gets a context (``ctx.params`` is the raw params) and cannot ask the client."""

        def register(handler: NotificationHandler) -> NotificationHandler:
            self.notification_handlers[method] = handler
            return handler

        return register

    # ------------------------------------------------------------ notifying

    async def notify_resource_updated(self, uri: str) -> None:
        """Tell every session subscribed to ``uri`` that it changed."""
        if self._host is not None:
            await self._host.resource_updated(uri)

    def subscribed_uris(self) -> set[str]:
        """The resource URIs that sessions served here subscribed to: what a service that
        detects changes itself (by polling or watching) needs to look at."""
        return self._host.subscribed_uris() if self._host is not None else set()

    async def notify_list_changed(self, kind: ListKind) -> None:
        """Tell every session that the list of tools, resources or prompts changed."""
        self._tool_lists.clear()
        if self._host is not None:
            await self._host.broadcast(f"notifications/{kind}/list_changed", None)

    # ------------------------------------------------------------ protocol

    @property
    def capabilities(self) -> ServerCapabilities:
        """What is registered, and nothing else: no prompts, completions or resource
        subscriptions are advertised by a service that has none."""
        has_resources = bool(self.resources or self.templates)
        return ServerCapabilities(
            tools=ListChanged(list_changed=True) if self.tools else None,
            resources=ResourcesCapability(subscribe=True, list_changed=True)
            if has_resources
            else None,
            prompts=ListChanged(list_changed=True) if self.prompts else None,
            logging={},
            completions={} if self.completers else None,
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

    def prepare(
        self,
        session: SessionState,
        message: Message,
        channel: Channel,
        principal: Principal | None = None,
    ) -> tuple[Context[StateT], bool]:
        """The request's context, its params decoded by the method table's type, and
        whether it runs service code (and so passes the middleware chain)."""
        method = message.method
        entry = self._methods.get(method)  # type: ignore[arg-type]
        if entry is None:
            raise McpError(METHOD_NOT_FOUND, f"Method not found: {method}")
        params = None if entry.params is None else decode_params(message.params, entry.params)
        meta = getattr(params, "meta", None)
        ctx: Context[StateT] = Context(
            session,
            message.request_id,
            channel,
            meta.progress_token if meta is not None else None,
            method=method,  # type: ignore[arg-type]
            params=params,
            state=self._state,
            secrets=self._secrets,
            settings=self.settings,
            principal=principal,
        )
        if isinstance(params, CallToolParams):
            ctx.tool = params.name
        return ctx, entry.chained

    async def dispatch(self, ctx: Context[Any]) -> Any:
        """The innermost step of the chain: the method table's handler."""
        return await self._methods[ctx.method].handler(ctx)

    async def handle(
        self,
        session: SessionState,
        message: Message,
        channel: Channel,
        principal: Principal | None = None,
    ) -> Any:
        """Answer one request without middleware; raises :class:`McpError`."""
        ctx, _ = self.prepare(session, message, channel, principal)
        return await self.dispatch(ctx)

    def notification_context(
        self, method: str, session: SessionState, params: msgspec.Raw, principal: Principal | None
    ) -> Context[StateT]:
        return Context(
            session,
            None,
            _NO_CHANNEL,
            method=method,
            params=params,
            state=self._state,
            secrets=self._secrets,
            settings=self.settings,
            principal=principal,
        )

    async def _ping(self, ctx: Context[Any]) -> EmptyResult:
        return EmptyResult()

    async def _set_level(self, ctx: Context[Any]) -> EmptyResult:
        ctx.session.log_level = ctx.params.level
        await self._save(ctx.session)
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

    async def _list_tools(self, ctx: Context[Any]) -> ListToolsResult:
        page, next_cursor = paginate(
            "tools",
            self._tools_for(ctx.session.protocol_version),
            ctx.params.cursor,
            self.settings.page_size,
        )
        return ListToolsResult(tools=page, next_cursor=next_cursor)

    async def _call_tool(self, ctx: Context[Any]) -> CallToolResult:
        params: CallToolParams = ctx.params
        spec = self.tools.get(params.name)
        if spec is None:
            raise invalid_params(f"Unknown tool: {params.name}")
        result = await spec.call(ctx, params.arguments)
        if result.structured_content is not None and not versions.has_structured_content(
            ctx.session.protocol_version
        ):
            result = msgspec.structs.replace(result, structured_content=None)
        return result

    async def _list_resources(self, ctx: Context[Any]) -> ListResourcesResult:
        items = [spec.resource for spec in self.resources.values()]
        page, next_cursor = paginate("resources", items, ctx.params.cursor, self.settings.page_size)
        return ListResourcesResult(resources=page, next_cursor=next_cursor)

    async def _list_templates(self, ctx: Context[Any]) -> ListResourceTemplatesResult:
        items = [spec.template for spec in self.templates]
        page, next_cursor = paginate("templates", items, ctx.params.cursor, self.settings.page_size)
        return ListResourceTemplatesResult(resource_templates=page, next_cursor=next_cursor)

    async def _read_resource(self, ctx: Context[Any]) -> ReadResourceResult:
        uri: str = ctx.params.uri
        fixed = self.resources.get(uri)
        with _tool_errors_as_protocol_errors():
            if fixed is not None:
                return ReadResourceResult(contents=await fixed.read(ctx, uri))
            for spec in self.templates:
                variables = spec.matcher.match(uri)
                if variables is not None:
                    return ReadResourceResult(contents=await spec.read(ctx, uri, variables))
        raise resource_not_found(uri)

    def _known_uri(self, uri: str) -> bool:
        return uri in self.resources or any(
            s.matcher.match(uri) is not None for s in self.templates
        )

    async def _subscribe(self, ctx: Context[Any]) -> EmptyResult:
        uri: str = ctx.params.uri
        if not self._known_uri(uri):
            raise resource_not_found(uri)
        if uri not in ctx.session.subscriptions:
            ctx.session.subscriptions.append(uri)
            await self._save(ctx.session)
        return EmptyResult()

    async def _unsubscribe(self, ctx: Context[Any]) -> EmptyResult:
        uri: str = ctx.params.uri
        if uri in ctx.session.subscriptions:
            ctx.session.subscriptions.remove(uri)
            await self._save(ctx.session)
        return EmptyResult()

    async def _list_prompts(self, ctx: Context[Any]) -> ListPromptsResult:
        items = [spec.prompt for spec in self.prompts.values()]
        page, next_cursor = paginate("prompts", items, ctx.params.cursor, self.settings.page_size)
        return ListPromptsResult(prompts=page, next_cursor=next_cursor)

    async def _get_prompt(self, ctx: Context[Any]) -> Any:
        params: GetPromptParams = ctx.params
        spec = self.prompts.get(params.name)
        if spec is None:
            raise invalid_params(f"Unknown prompt: {params.name}")
        with _tool_errors_as_protocol_errors():
            return await spec.get(ctx, params.arguments)

    async def _complete(self, ctx: Context[Any]) -> CompleteResult:
        params: CompleteParams = ctx.params
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
            values = await completer(ctx, params.argument.name, params.argument.value, other)
        return CompleteResult(
            completion=Completion(
                values=values[:_MAX_COMPLETIONS],
                total=len(values),
                has_more=len(values) > _MAX_COMPLETIONS,
            )
        )

    async def _save(self, session: SessionState) -> None:
        if self._host is not None:
            await self._host.save_session(session)
