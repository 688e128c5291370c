"""mcpmesh: the shared MCP library of the mesh.

A service author imports from here: :class:`Service`, :class:`Context`, the content
types and :class:`ToolError`. Everything about HTTP, JSON-RPC ids and sessions stays
inside :mod:`mcpmesh.transport` and :mod:`mcpmesh.protocol`.
"""

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
