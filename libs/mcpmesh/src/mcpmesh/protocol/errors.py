"""JSON-RPC and MCP error codes, and the exception that carries one to the wire."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: Resource not found (MCP up to 2025-11-25).
RESOURCE_NOT_FOUND = -32002
#: URL-mode elicitation required (2025-11-25).
URL_ELICITATION_REQUIRED = -32042
#: The request was cancelled by the client (mirrors LSP; not a spec code).
REQUEST_CANCELLED = -32800


class McpError(Exception):
    """A protocol failure: becomes a JSON-RPC error response with ``code``.

    Raised by the library (and, rarely, by handlers) for malformed requests, unknown
    names and the like. A tool that merely failed at its job raises
    :class:`mcpmesh.ToolError` instead, which becomes an ``isError`` result.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def __repr__(self) -> str:
        return f"McpError({self.code}, {self.message!r})"


def invalid_params(message: str, data: Any = None) -> McpError:
    return McpError(INVALID_PARAMS, message, data)


def resource_not_found(uri: str) -> McpError:
    return McpError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}", {"uri": uri})


class ToolError(Exception):
    """A tool failed at its job: the client gets an ``isError`` result with this message.

    Write the message for the person at the other end: what went wrong and what to do.
    (Defined here, below ``server/``, so that ``secrets`` can raise one.)
    """
