"""What tool handlers return or raise."""

from __future__ import annotations

from typing import Any

import msgspec

from mcpmesh.protocol.errors import ToolError
from mcpmesh.protocol.types import CallToolResult, TextContent

__all__ = ["ToolError", "ToolResult"]


class ToolResult(msgspec.Struct, kw_only=True):
    """A tool's full answer: content blocks, optional structured content, error flag."""

    content: list[Any] = msgspec.field(default_factory=list)
    structured: Any = None
    is_error: bool = False

    @classmethod
    def text(cls, text: str, *, structured: Any = None, is_error: bool = False) -> ToolResult:
        return cls(content=[TextContent(text)], structured=structured, is_error=is_error)

    @classmethod
    def error(cls, message: str) -> ToolResult:
        return cls(content=[TextContent(message)], is_error=True)

    def to_wire(self) -> CallToolResult:
        structured = self.structured
        if structured is not None and not isinstance(structured, dict):
            structured = msgspec.to_builtins(structured)
        return CallToolResult(
            content=self.content,
            structured_content=structured,
            is_error=True if self.is_error else None,
        )
