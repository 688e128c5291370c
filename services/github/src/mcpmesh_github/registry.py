"""The catalogue of tools, grouped in toolsets, and which of them a configuration offers.

A tool is declared once, in its toolset's module, as ``async (gh, args) -> Result``:
its arguments Struct gives ``inputSchema``, its return annotation ``outputSchema``.
The factory registers only the selected tools, so a tool that is not offered is not
listed and cannot be called (writes off is not a runtime check that could be forgotten).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from mcpmesh_github.api import GitHub

TOOLSETS = ("context", "repos", "issues", "pull_requests", "search", "actions")

Handler = Callable[["GitHub", Any], Awaitable[Any]]


class ToolDef(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    toolset: str
    write: bool
    handler: Any
    #: The arguments Struct (``inputSchema``) and the result Struct (``outputSchema``).
    args: type
    output: type
    description: str
    destructive: bool = False
    idempotent: bool = False


CATALOGUE: dict[str, ToolDef] = {}


def github_tool(
    toolset: str, *, write: bool = False, destructive: bool = False, idempotent: bool = False
) -> Callable[[Handler], Handler]:
    if toolset not in TOOLSETS:
        raise ValueError(f"unknown toolset {toolset!r}")

    def register(handler: Handler) -> Handler:
        hints = typing.get_type_hints(handler)
        args_name = list(inspect.signature(handler).parameters)[1]
        CATALOGUE[handler.__name__] = ToolDef(
            name=handler.__name__,
            toolset=toolset,
            write=write,
            handler=handler,
            args=hints[args_name],
            output=hints["return"],
            description=inspect.getdoc(handler) or handler.__name__,
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
    return [
        d
        for d in CATALOGUE.values()
        if (d.toolset in wanted_sets or d.name in tools)
        and d.name not in exclude
        and (write or not d.write)
    ]
