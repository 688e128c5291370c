"""MCP 2025-11-25 message types as msgspec Structs.

Field names are snake_case in Python and camelCase on the wire (``rename="camel"``);
``None`` and other defaults are left off the wire (``omit_defaults``). Unknown fields
from peers are ignored, so newer clients keep working.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import Raw, Struct, field

LogLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
LOG_LEVELS: tuple[str, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
Role = Literal["user", "assistant"]
RequestId = int | str
ProgressToken = int | str


class Base(Struct, omit_defaults=True, rename="camel"):
    """Common configuration of every wire type."""


# ---------------------------------------------------------------- shared pieces


class Icon(Base):
    src: str
    mime_type: str | None = None
    sizes: list[str] | None = None
    theme: Literal["light", "dark"] | None = None


class Implementation(Base):
    name: str
    version: str
    title: str | None = None
    description: str | None = None
    website_url: str | None = None
    icons: list[Icon] | None = None


class Annotations(Base):
    audience: list[Role] | None = None
    priority: float | None = None
    last_modified: str | None = None


class RequestMeta(Base):
    progress_token: ProgressToken | None = None
    #: W3C trace context of the caller's span (the request's span becomes its child).
    traceparent: str | None = None


# ---------------------------------------------------------------- content


class TextContent(Base, tag="text", tag_field="type"):
    text: str
    annotations: Annotations | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class ImageContent(Base, tag="image", tag_field="type"):
    data: str
    mime_type: str
    annotations: Annotations | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class AudioContent(Base, tag="audio", tag_field="type"):
    data: str
    mime_type: str
    annotations: Annotations | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class ResourceLink(Base, tag="resource_link", tag_field="type"):
    uri: str
    name: str
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    size: int | None = None
    icons: list[Icon] | None = None
    annotations: Annotations | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class TextResourceContents(Base):
    uri: str
    text: str
    mime_type: str | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class BlobResourceContents(Base):
    uri: str
    blob: str
    mime_type: str | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


ResourceContents = TextResourceContents | BlobResourceContents


class EmbeddedResource(Base, tag="resource", tag_field="type"):
    resource: Any  # TextResourceContents | BlobResourceContents (encode-only union)
    annotations: Annotations | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class ToolUseContent(Base, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any]
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class ToolResultContent(Base, tag="tool_result", tag_field="type"):
    tool_use_id: str
    content: list[Any] = []
    structured_content: dict[str, Any] | None = None
    is_error: bool | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


ContentBlock = TextContent | ImageContent | AudioContent | ResourceLink | EmbeddedResource


def content_type(block: msgspec.Struct) -> str:
    """A content block's ``type`` on the wire (msgspec keeps the tag off the instance)."""
    return str(type(block).__struct_config__.tag)


SamplingContent = TextContent | ImageContent | AudioContent | ToolUseContent | ToolResultContent


# ---------------------------------------------------------------- lifecycle


class RootsCapability(Base):
    list_changed: bool | None = None


class SamplingCapability(Base):
    context: dict[str, Any] | None = None
    tools: dict[str, Any] | None = None


class ElicitationCapability(Base):
    form: dict[str, Any] | None = None
    url: dict[str, Any] | None = None


class ClientCapabilities(Base):
    roots: RootsCapability | None = None
    sampling: SamplingCapability | None = None
    elicitation: ElicitationCapability | None = None
    experimental: dict[str, Any] | None = None
    tasks: dict[str, Any] | None = None
    #: Optional extensions by identifier (2026-07-28), e.g. ``io.modelcontextprotocol/tasks``.
    extensions: dict[str, Any] | None = None


class InitializeParams(Base):
    protocol_version: str
    capabilities: ClientCapabilities = msgspec.field(default_factory=ClientCapabilities)
    client_info: Implementation | None = None


class ListChanged(Base):
    list_changed: bool | None = None


class ResourcesCapability(Base):
    subscribe: bool | None = None
    list_changed: bool | None = None


class ServerCapabilities(Base):
    tools: ListChanged | None = None
    resources: ResourcesCapability | None = None
    prompts: ListChanged | None = None
    logging: dict[str, Any] | None = None
    completions: dict[str, Any] | None = None
    experimental: dict[str, Any] | None = None
    #: Optional extensions by identifier (2026-07-28).
    extensions: dict[str, Any] | None = None


class InitializeResult(Base):
    protocol_version: str
    capabilities: ServerCapabilities
    server_info: Implementation
    instructions: str | None = None


class EmptyResult(Base):
    """``{}``: the result of ping, logging/setLevel, subscribe and unsubscribe."""


class PaginatedParams(Base):
    cursor: str | None = None


class CancelledParams(Base):
    request_id: RequestId | None = None
    reason: str | None = None


class ProgressParams(Base):
    progress_token: ProgressToken
    progress: float
    total: float | None = None
    message: str | None = None


class SetLevelParams(Base):
    level: LogLevel


class LoggingMessageParams(Base):
    level: LogLevel
    data: Any
    logger: str | None = None


# ---------------------------------------------------------------- tools


class ToolAnnotations(Base):
    """Hints about a tool's behaviour. Clients must treat them as untrusted."""

    title: str | None = None
    read_only_hint: bool | None = None
    destructive_hint: bool | None = None
    idempotent_hint: bool | None = None
    open_world_hint: bool | None = None


class Tool(Base):
    name: str
    input_schema: dict[str, Any]
    title: str | None = None
    description: str | None = None
    output_schema: dict[str, Any] | None = None
    annotations: ToolAnnotations | None = None
    icons: list[Icon] | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class ListToolsResult(Base):
    tools: list[Tool]
    next_cursor: str | None = None


_NO_ARGUMENTS = Raw(b"{}")


class CallToolParams(Base):
    name: str
    #: Raw JSON, decoded by the tool into its own arguments type.
    arguments: Raw = _NO_ARGUMENTS
    meta: RequestMeta | None = field(default=None, name="_meta")
    #: 2026-07-28 MRTR retry: the client's answers, keyed like the questions they answer.
    input_responses: dict[str, Raw] | None = None
    #: 2026-07-28 MRTR retry: the sealed state of the previous round, echoed back.
    request_state: str | None = None


class CallToolResult(Base):
    content: list[Any]
    structured_content: Any = None
    is_error: bool | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


# ---------------------------------------------------------------- resources


class Resource(Base):
    uri: str
    name: str
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    size: int | None = None
    icons: list[Icon] | None = None
    annotations: Annotations | None = None


class ResourceTemplate(Base):
    uri_template: str
    name: str
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    icons: list[Icon] | None = None
    annotations: Annotations | None = None


class ListResourcesResult(Base):
    resources: list[Resource]
    next_cursor: str | None = None


class ListResourceTemplatesResult(Base):
    resource_templates: list[ResourceTemplate]
    next_cursor: str | None = None


class UriParams(Base):
    """Params of resources/read, resources/subscribe and resources/unsubscribe."""

    uri: str
    meta: RequestMeta | None = field(default=None, name="_meta")
    #: 2026-07-28 MRTR retry of resources/read (see :class:`CallToolParams`).
    input_responses: dict[str, Raw] | None = None
    request_state: str | None = None


class ReadResourceResult(Base):
    contents: list[Any]


# ---------------------------------------------------------------- prompts


class PromptArgument(Base):
    name: str
    title: str | None = None
    description: str | None = None
    required: bool | None = None


class Prompt(Base):
    name: str
    title: str | None = None
    description: str | None = None
    arguments: list[PromptArgument] | None = None
    icons: list[Icon] | None = None


class ListPromptsResult(Base):
    prompts: list[Prompt]
    next_cursor: str | None = None


class GetPromptParams(Base):
    name: str
    arguments: dict[str, str] | None = None
    meta: RequestMeta | None = field(default=None, name="_meta")
    #: 2026-07-28 MRTR retry of prompts/get (see :class:`CallToolParams`).
    input_responses: dict[str, Raw] | None = None
    request_state: str | None = None


class PromptMessage(Base):
    role: Role
    content: ContentBlock


class GetPromptResult(Base):
    messages: list[PromptMessage]
    description: str | None = None


# ---------------------------------------------------------------- completion


class PromptReference(Base, tag="ref/prompt", tag_field="type"):
    name: str


class ResourceTemplateReference(Base, tag="ref/resource", tag_field="type"):
    uri: str


class CompletionArgument(Base):
    name: str
    value: str


class CompletionContext(Base):
    arguments: dict[str, str] | None = None


class CompleteParams(Base):
    ref: PromptReference | ResourceTemplateReference
    argument: CompletionArgument
    context: CompletionContext | None = None


class Completion(Base):
    values: list[str]
    total: int | None = None
    has_more: bool | None = None


class CompleteResult(Base):
    completion: Completion


# ---------------------------------------------------------------- server -> client


class SamplingMessage(Base):
    role: Role
    content: SamplingContent | list[SamplingContent]


class ModelHint(Base):
    name: str | None = None


class ModelPreferences(Base):
    hints: list[ModelHint] | None = None
    cost_priority: float | None = None
    speed_priority: float | None = None
    intelligence_priority: float | None = None


class CreateMessageParams(Base):
    messages: list[SamplingMessage]
    max_tokens: int
    system_prompt: str | None = None
    model_preferences: ModelPreferences | None = None
    include_context: Literal["none", "thisServer", "allServers"] | None = None
    temperature: float | None = None
    stop_sequences: list[str] | None = None
    metadata: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None


class CreateMessageResult(Base):
    role: Role
    content: SamplingContent | list[SamplingContent]
    model: str
    stop_reason: str | None = None

    @property
    def text(self) -> str:
        """The concatenated text of the reply, for the common text-only case."""
        blocks = self.content if isinstance(self.content, list) else [self.content]
        return "".join(b.text for b in blocks if isinstance(b, TextContent))


class ElicitParams(Base):
    message: str
    requested_schema: dict[str, Any] | None = None
    mode: Literal["form", "url"] | None = None
    url: str | None = None
    elicitation_id: str | None = None


class ElicitResult(Base):
    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None


class Root(Base):
    uri: str
    name: str | None = None


class ListRootsResult(Base):
    roots: list[Root]
