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
