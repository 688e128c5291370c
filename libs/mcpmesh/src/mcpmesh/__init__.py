"""mcpmesh: the shared MCP library of the mesh.

A service author imports from here: :class:`Service`, :class:`Context`, the content
types and :class:`ToolError`. Everything about HTTP, JSON-RPC ids and sessions stays
inside :mod:`mcpmesh.transport` and :mod:`mcpmesh.protocol`.
"""

import sys as _sys

if "structlog" not in _sys.modules and "rich" not in _sys.modules:
    # structlog imports rich at import time whenever it is installed (for its console
    # renderer's tracebacks; development tools pull rich into a virtualenv, the image
    # has none): ~3 MB resident and ~0.15 s of start-up that mcpmesh never uses, since
    # its log chain formats exceptions itself (``format_exc_info``). Hide rich from that
    # one import; anything imported later can still import rich as usual.
    _sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog  # noqa: F401
    finally:
        del _sys.modules["rich"]

from mcpmesh.protocol.errors import McpError
from mcpmesh.protocol.types import (
    AudioContent,
    BlobResourceContents,
    EmbeddedResource,
    Icon,
    ImageContent,
    PromptMessage,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from mcpmesh.server.context import ConfirmationDeclined, Context
from mcpmesh.server.results import ToolError, ToolResult
from mcpmesh.server.service import Service

__version__ = "0.1.0"

__all__ = [
    "AudioContent",
    "BlobResourceContents",
    "ConfirmationDeclined",
    "Context",
    "EmbeddedResource",
    "Icon",
    "ImageContent",
    "McpError",
    "PromptMessage",
    "ResourceLink",
    "Service",
    "TextContent",
    "TextResourceContents",
    "ToolAnnotations",
    "ToolError",
    "ToolResult",
    "__version__",
]
