"""The MCP 2026-07-28 stateless wire: its message types, and which era a request is.

2026-07-28 has no ``initialize`` and no session: every request carries its protocol
version, client capabilities and (optionally) client info and log level in
``params._meta``; results carry ``resultType``; sampling, elicitation and roots become
``inputRequests`` of an ``input_required`` result that the client answers by retrying the
request (MRTR, SEP-2322). The 2025 types in :mod:`mcpmesh.protocol.types` stay as they
are; what is new lives here, so the 2025 wire is untouched.

Field names follow :mod:`mcpmesh.protocol.types` (snake_case in Python, camelCase on the
wire); the reserved ``_meta`` keys keep their exact names.
"""

from __future__ import annotations

import enum
from typing import Any, Literal, Protocol

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType, field

from mcpmesh.protocol import versions
from mcpmesh.protocol.errors import (
    INVALID_PARAMS,
    McpError,
    header_mismatch,
    unsupported_protocol_version,
)
from mcpmesh.protocol.types import (
    Base,
    ClientCapabilities,
    CreateMessageParams,
    ElicitParams,
    Implementation,
    LogLevel,
    ProgressToken,
    RequestId,
    ServerCapabilities,
)

# ---------------------------------------------------------------- reserved _meta keys

PREFIX = "io.modelcontextprotocol/"
META_PROTOCOL_VERSION = PREFIX + "protocolVersion"
META_CLIENT_CAPABILITIES = PREFIX + "clientCapabilities"
META_CLIENT_INFO = PREFIX + "clientInfo"
META_LOG_LEVEL = PREFIX + "logLevel"
META_SERVER_INFO = PREFIX + "serverInfo"
META_SUBSCRIPTION_ID = PREFIX + "subscriptionId"

ResultType = Literal["complete", "input_required"]
CacheScope = Literal["public", "private"]


class Era(enum.Enum):
    """Which wire a request speaks; decided per request by :func:`request_era`."""

    #: ``initialize`` + ``Mcp-Session-Id`` (2025-11-25 and earlier).
    LEGACY = "legacy"
    #: Per-request ``_meta``, no session (2026-07-28 and later).
    MODERN = "modern"


# ---------------------------------------------------------------- request side


class RequestMeta(Struct, omit_defaults=True):
    """``params._meta`` of a 2026 request. Unknown keys (vendor extensions) are ignored;
    a reserved key of the wrong type fails decoding, which is -32602 (Invalid params)."""

    protocol_version: str | UnsetType = field(default=UNSET, name=META_PROTOCOL_VERSION)
    client_capabilities: ClientCapabilities | UnsetType = field(
        default=UNSET, name=META_CLIENT_CAPABILITIES
    )
    client_info: Implementation | UnsetType = field(default=UNSET, name=META_CLIENT_INFO)
    log_level: LogLevel | UnsetType = field(default=UNSET, name=META_LOG_LEVEL)
    progress_token: ProgressToken | UnsetType = field(default=UNSET, name="progressToken")
    #: W3C trace context (SEP-414), passed on to tracing untouched.
    traceparent: str | UnsetType = UNSET
    tracestate: str | UnsetType = UNSET

    @property
    def declares_modern(self) -> bool:
        """Whether any per-request protocol field is present (a 2025 client sends none)."""
        return not (
            self.protocol_version is UNSET
            and self.client_capabilities is UNSET
            and self.client_info is UNSET
            and self.log_level is UNSET
        )


class RequestEnvelope(Struct, omit_defaults=True):
    """What the transport reads from any request's params before dispatch: ``_meta``,
    the fields the ``Mcp-Name`` header mirrors, and the MRTR retry fields. The method's
    own params Struct decodes the rest (unknown fields are ignored by both)."""

    meta: RequestMeta | UnsetType = field(default=UNSET, name="_meta")
    #: ``params.name`` of tools/call and prompts/get (any JSON: checked per method).
    name: Any = UNSET
    #: ``params.uri`` of resources/read.
    uri: Any = UNSET
    arguments: Raw | UnsetType = UNSET
    #: MRTR: the client's answers, keyed like the ``inputRequests`` they answer.
    input_responses: dict[str, Raw] | UnsetType = field(default=UNSET, name="inputResponses")
    #: MRTR: the sealed state of the previous round, echoed back.
    request_state: str | UnsetType = field(default=UNSET, name="requestState")


_envelope_decoder = msgspec.json.Decoder(RequestEnvelope)


def decode_envelope(params: Raw) -> RequestEnvelope:
    """Decode the transport's view of a request's params; bad shapes are -32602."""
    try:
        envelope = _envelope_decoder.decode(params)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise WireError(INVALID_PARAMS, f"Invalid params: {exc}", status=400) from None
    if not isinstance(envelope.input_responses, UnsetType):
        for key, answer in envelope.input_responses.items():
            if bytes(answer).lstrip()[:1] != b"{":
                raise WireError(
                    INVALID_PARAMS,
                    f"Invalid params: inputResponses[{key[:40]!r}] must be an object (the "
                    "result of the input request it answers)",
                    status=400,
                )
    return envelope


class ModernRequest(Struct, frozen=True, kw_only=True):
    """A 2026 request whose ``_meta`` and headers passed :func:`check_request`."""

    protocol_version: str
    capabilities: ClientCapabilities
    client_info: Implementation | None = None
    #: ``None``: the request did not ask for log messages, so none may be sent.
    log_level: LogLevel | None = None
    progress_token: ProgressToken | None = None


class WireError(McpError):
    """An :class:`McpError` refused before dispatch, with the HTTP status the 2026
    transport answers it with (the JSON-RPC body still carries the request's id)."""

    def __init__(self, code: int, message: str, data: Any = None, *, status: int) -> None:
        super().__init__(code, message, data)
        self.status = status


def refusal(error: McpError, status: int = 400) -> WireError:
    """``error`` as a pre-dispatch refusal answered with HTTP ``status``."""
    return WireError(error.code, error.message, error.data, status=status)


# ---------------------------------------------------------------- era


class Headers(Protocol):
    """Case-insensitive header lookup (aiohttp's ``CIMultiDictProxy`` is one)."""

    def getall(self, key: str, default: list[str]) -> list[str]: ...


VERSION_HEADER = "MCP-Protocol-Version"
SESSION_HEADER = "Mcp-Session-Id"


def single_header(headers: Headers, name: str) -> str | None:
    """The one value of ``name`` with optional whitespace trimmed (RFC 9110 §5.5);
    ``None`` when absent. A header sent twice is ambiguous, which is a mismatch."""
    values = headers.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise refusal(header_mismatch(f"{name} sent {len(values)} times"))
    return values[0].strip(" \t")


def request_era(headers: Headers, meta: RequestMeta | None) -> Era:
    """Which wire one request speaks, from its headers and ``params._meta``.

    Modern when the body carries any per-request protocol field (a 2025 client never
    does), or when ``MCP-Protocol-Version`` names anything but a session-era revision
    (an unknown version is modern, so it gets -32022 listing what we speak). Everything
    else — ``initialize``, session traffic, a request with neither — is legacy. GET and
    DELETE have no body: pass ``meta=None``.
    """
    if meta is not None and meta.declares_modern:
        return Era.MODERN
    try:
        header = single_header(headers, VERSION_HEADER)
    except WireError:
        return Era.MODERN  # only the modern wire can answer it with -32020
    if not header or versions.is_legacy_revision(header):
        return Era.LEGACY
    return Era.MODERN


def check_meta(headers: Headers, envelope: RequestEnvelope) -> ModernRequest:
    """The version rules of a modern request, in the order the spec implies.

    1. ``MCP-Protocol-Version`` missing → -32020; 2. ``_meta``, its protocol version or its
    client capabilities missing → -32602; 3. header ≠ ``_meta`` version → -32020;
    4. a version we do not speak → -32022 with ``data.supported``/``requested``.
    Every refusal is HTTP 400. ``clientInfo`` is optional (a SHOULD).
    """
    header = single_header(headers, VERSION_HEADER)
    if header is None:
        raise refusal(header_mismatch(f"the {VERSION_HEADER} header is required"))
    meta = envelope.meta
    missing = [
        key
        for key, value in (
            ("_meta", meta),
            (META_PROTOCOL_VERSION, getattr(meta, "protocol_version", UNSET)),
            (META_CLIENT_CAPABILITIES, getattr(meta, "client_capabilities", UNSET)),
        )
        if value is UNSET
    ]
    if missing or isinstance(meta, UnsetType):
        raise WireError(
            INVALID_PARAMS,
            f"Invalid params: every request needs params._meta with {META_PROTOCOL_VERSION} "
            f"and {META_CLIENT_CAPABILITIES} (missing: {missing[-1]})",
            status=400,
        )
    version = meta.protocol_version
    capabilities = meta.client_capabilities
    assert isinstance(version, str) and isinstance(capabilities, ClientCapabilities)
    if header != version:
        raise refusal(
            header_mismatch(
                f"{VERSION_HEADER} header {header[:40]!r} does not match "
                f"_meta {META_PROTOCOL_VERSION} {version[:40]!r}"
            )
        )
    if not versions.is_modern(version):
        raise refusal(unsupported_protocol_version(version, versions.all_supported()))
    return ModernRequest(
        protocol_version=version,
        capabilities=capabilities,
        client_info=None if isinstance(meta.client_info, UnsetType) else meta.client_info,
        log_level=None if isinstance(meta.log_level, UnsetType) else meta.log_level,
        progress_token=(
            None if isinstance(meta.progress_token, UnsetType) else meta.progress_token
        ),
    )


# ---------------------------------------------------------------- result side


def result_meta(server_info: Implementation) -> dict[str, Any]:
    """``_meta`` every 2026 result carries: who answered (self-reported, for display)."""
    return {META_SERVER_INFO: server_info}


class DiscoverResult(Base, tag="complete", tag_field="resultType"):
    """The result of ``server/discover`` (required; cacheable). ``resultType`` is the
    tag, so it is always on the wire."""

    supported_versions: list[str]
    capabilities: ServerCapabilities
    ttl_ms: int
    cache_scope: CacheScope
    instructions: str | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")


class CacheHints(Struct, frozen=True):
    """``ttlMs``/``cacheScope`` of a cacheable result (SEP-2549). ``private`` unless the
    result is the same for every caller (a gateway may share a ``public`` one)."""

    ttl_ms: int = 0
    cache_scope: CacheScope = "private"

    def __post_init__(self) -> None:
        if self.ttl_ms < 0:
            raise ValueError("ttlMs must be >= 0")

    def fields(self) -> dict[str, Any]:
        return {"ttlMs": self.ttl_ms, "cacheScope": self.cache_scope}


#: Methods whose complete results carry :class:`CacheHints` on the 2026 wire.
CACHEABLE_METHODS: frozenset[str] = frozenset(
    {
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    }
)


def complete_fields(
    method: str, server_info: Implementation, hints: CacheHints | None
) -> dict[str, Any]:
    """Fields the 2026 wire adds to a method's complete result, merged in by the
    transport so handlers and the 2025 result types stay as they are. ``hints`` is
    ``None`` for a result that must not be cached (an MRTR retry)."""
    extra: dict[str, Any] = {"resultType": "complete", "_meta": result_meta(server_info)}
    if method in CACHEABLE_METHODS:
        extra.update((hints or CacheHints(ttl_ms=0)).fields())
    return extra


# ---------------------------------------------------------------- MRTR (SEP-2322)


class ElicitInput(Base, tag="elicitation/create", tag_field="method"):
    params: ElicitParams


class SamplingInput(Base, tag="sampling/createMessage", tag_field="method"):
    params: CreateMessageParams


class RootsInput(Base, tag="roots/list", tag_field="method"):
    params: dict[str, Any] = {}


InputRequest = ElicitInput | SamplingInput | RootsInput


def input_capability(request: InputRequest) -> str:
    """The client capability an input request needs (MRTR: only ask what was declared)."""
    if isinstance(request, ElicitInput):
        return "elicitation"
    if isinstance(request, SamplingInput):
        return "sampling"
    return "roots"


class InputRequiredResult(Base, tag="input_required", tag_field="resultType"):
    """``resultType: input_required``: answer these and retry with a new request id,
    ``inputResponses`` keyed alike and ``requestState`` echoed unchanged."""

    input_requests: dict[str, InputRequest] | None = None
    request_state: str | None = None
    meta: dict[str, Any] | None = field(default=None, name="_meta")

    def __post_init__(self) -> None:
        if not self.input_requests and self.request_state is None:
            raise ValueError("an input_required result needs inputRequests or requestState")


# ---------------------------------------------------------------- subscriptions/listen


class SubscriptionFilter(Base):
    """What a ``subscriptions/listen`` stream carries; every type is opt-in."""

    tools_list_changed: bool | None = None
    prompts_list_changed: bool | None = None
    resources_list_changed: bool | None = None
    resource_subscriptions: list[str] | None = None

    def honoured(self, capabilities: ServerCapabilities) -> SubscriptionFilter:
        """The subset this server can serve: the acknowledgement reports it."""
        tools = capabilities.tools is not None and bool(capabilities.tools.list_changed)
        prompts = capabilities.prompts is not None and bool(capabilities.prompts.list_changed)
        resources = capabilities.resources
        return SubscriptionFilter(
            tools_list_changed=True if self.tools_list_changed and tools else None,
            prompts_list_changed=True if self.prompts_list_changed and prompts else None,
            resources_list_changed=(
                True
                if self.resources_list_changed and resources and resources.list_changed
                else None
            ),
            resource_subscriptions=(
                list(self.resource_subscriptions)
                if self.resource_subscriptions and resources and resources.subscribe
                else None
            ),
        )

    def wants(self, method: str, uri: str | None = None) -> bool:
        """Whether a notification belongs on this stream."""
        if method == "notifications/tools/list_changed":
            return bool(self.tools_list_changed)
        if method == "notifications/prompts/list_changed":
            return bool(self.prompts_list_changed)
        if method == "notifications/resources/list_changed":
            return bool(self.resources_list_changed)
        if method == "notifications/resources/updated":
            return uri is not None and uri in (self.resource_subscriptions or ())
        return False


class ListenParams(Base):
    notifications: SubscriptionFilter = field(default_factory=SubscriptionFilter)


def subscription_meta(subscription_id: RequestId) -> dict[str, Any]:
    """``_meta`` of every message on a listen stream: the listen request's JSON-RPC id."""
    return {META_SUBSCRIPTION_ID: subscription_id}


def acknowledgement(subscription_id: RequestId, honoured: SubscriptionFilter) -> dict[str, Any]:
    """Params of ``notifications/subscriptions/acknowledged``, the stream's first message."""
    return {"_meta": subscription_meta(subscription_id), "notifications": honoured}


def listen_closed(subscription_id: RequestId) -> dict[str, Any]:
    """The ``subscriptions/listen`` result sent when the server ends the stream itself."""
    return {"resultType": "complete", "_meta": subscription_meta(subscription_id)}
