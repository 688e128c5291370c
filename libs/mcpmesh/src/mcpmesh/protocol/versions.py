"""Protocol versions this library speaks, and every rule that differs between them.

Era-specific behaviour lives here and in :mod:`mcpmesh.transport`, never in handlers,
so that a new wire revision changes these modules only.
"""

from __future__ import annotations

LATEST = "2025-11-25"
#: Newest first. The first entry is what ``initialize`` answers with when the client
#: asks for a version we do not speak.
SUPPORTED: tuple[str, ...] = ("2025-11-25", "2025-06-18", "2025-03-26")
#: What a request without ``MCP-Protocol-Version`` and without a session is assumed to be.
DEFAULT_WITHOUT_HEADER = "2025-03-26"
#: Stateless revisions (per-request ``_meta``, no ``initialize``), newest first.
MODERN: tuple[str, ...] = ("2026-07-28",)
#: Every revision that opens with ``initialize``, spoken or not: a request naming one of
#: these (and carrying no modern ``_meta``) belongs to the session wire.
LEGACY_REVISIONS: frozenset[str] = frozenset(
    {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}
)


def negotiate(requested: str) -> str:
    """The version to answer ``initialize`` with: the client's if we speak it, else ours."""
    return requested if requested in SUPPORTED else LATEST


def is_supported(version: str) -> bool:
    return version in SUPPORTED


def has_structured_content(version: str) -> bool:
    """``outputSchema``/``structuredContent``, ``title`` and elicitation arrived in 2025-06-18."""
    return version >= "2025-06-18"


def has_elicitation(version: str) -> bool:
    return version >= "2025-06-18"


def has_icons(version: str) -> bool:
    return version >= "2025-11-25"


def sends_sse_priming_event(version: str) -> bool:
    """SSE priming events (an id with empty data, SEP-1699) are only understood from 2025-11-25."""
    return version >= "2025-11-25"


# ---------------------------------------------------------------- 2026-07-28 (stateless)


def all_supported() -> list[str]:
    """``supportedVersions`` of ``server/discover`` and ``data.supported`` of -32022:
    the stateless revisions first, then those served through ``initialize``."""
    return [*MODERN, *SUPPORTED]


def is_modern(version: str) -> bool:
    """A revision served statelessly, from the request's own ``_meta``."""
    return version in MODERN


def is_legacy_revision(version: str) -> bool:
    return version in LEGACY_REVISIONS


def has_result_type(version: str) -> bool:
    """Every result carries ``resultType`` from 2026-07-28 (SEP-2322)."""
    return is_modern(version)


def has_caching_hints(version: str) -> bool:
    """``ttlMs``/``cacheScope`` on list and read results from 2026-07-28 (SEP-2549)."""
    return is_modern(version)


def asks_through_results(version: str) -> bool:
    """Sampling, elicitation and roots are ``inputRequests`` of an ``input_required``
    result (MRTR) instead of server→client requests from 2026-07-28."""
    return is_modern(version)


def resource_not_found_code(version: str) -> int:
    """-32002 up to 2025-11-25; -32602 (Invalid params) from 2026-07-28 (SEP-2164)."""
    return -32602 if is_modern(version) else -32002


def logs_without_level(version: str) -> bool:
    """Up to 2025-11-25 a session logs at its ``logging/setLevel`` level (``info`` by
    default); from 2026-07-28 nothing is logged unless the request's ``_meta`` asks."""
    return not is_modern(version)


#: Methods the stateless wire removed: answered 404/-32601 there.
REMOVED_IN_MODERN: frozenset[str] = frozenset(
    {
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "notifications/initialized",
        "notifications/roots/list_changed",
    }
)


def method_exists(method: str, version: str) -> bool:
    """Whether ``method`` is part of ``version``'s wire (the method table decides the rest)."""
    if is_modern(version):
        return method not in REMOVED_IN_MODERN
    return method not in ("server/discover", "subscriptions/listen")


#: The only requests that may answer ``input_required`` (MRTR "Supported Requests").
INPUT_REQUIRED_METHODS: frozenset[str] = frozenset({"tools/call", "prompts/get", "resources/read"})


def may_require_input(method: str) -> bool:
    return method in INPUT_REQUIRED_METHODS
