"""The catalogue of tools, grouped in toolsets, and which of them a configuration offers.

Tools are declared once here with their toolset and whether they write; the factory
registers only the selected ones, so a tool that is not offered is not listed and cannot
be called (read-only mode is not a runtime check that could be forgotten).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from mcpmesh import Context, ToolResult

TOOLSETS = ("context", "repos", "issues", "pull_requests", "search", "actions")

Handler = Callable[[Context, Any], Awaitable[ToolResult]]


class ToolDef(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    toolset: str
    write: bool
    handler: Any
    output: type
    destructive: bool = False
    idempotent: bool = False


CATALOGUE: dict[str, ToolDef] = {}


def github_tool(
    toolset: str,
    *,
    output: type,
    write: bool = False,
    destructive: bool = False,
    idempotent: bool = False,
) -> Callable[[Handler], Handler]:
    if toolset not in TOOLSETS:
        raise ValueError(f"unknown toolset {toolset!r}")

    def register(handler: Handler) -> Handler:
        name = handler.__name__
        CATALOGUE[name] = ToolDef(
            name=name,
            toolset=toolset,
            write=write,
            handler=handler,
            output=output,
            destructive=destructive,
            idempotent=idempotent or not write,
        )
        return handler

    return register


def select(toolsets: list[str], tools: list[str], exclude: list[str], write: bool) -> list[ToolDef]:
    """Toolsets plus single tools, minus excluded ones, minus writes unless ``write``
    (off wins over an explicitly named write tool, as read-only does in GitHub's server)."""
    wanted_sets = set(TOOLSETS) if "all" in toolsets else set(toolsets)
    unknown = (wanted_sets - set(TOOLSETS)) | {t for t in [*tools, *exclude] if t not in CATALOGUE}
    if unknown:
        raise ValueError(
            f"unknown toolsets or tools: {', '.join(sorted(unknown))} "
            f"(toolsets: {', '.join(TOOLSETS)}; tools: {', '.join(sorted(CATALOGUE))})"
        )
    chosen = [
        d
        for d in CATALOGUE.values()
        if (d.toolset in wanted_sets or d.name in tools)
        and d.name not in exclude
        and (write or not d.write)
    ]
    return chosen
