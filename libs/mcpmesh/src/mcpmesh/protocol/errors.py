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


def resource_not_found(uri: str, code: int = RESOURCE_NOT_FOUND) -> McpError:
    """``code`` per era: see :func:`mcpmesh.protocol.versions.resource_not_found_code`."""
    return McpError(code, f"Resource not found: {uri}", {"uri": uri})


# ---------------------------------------------------------------- 2026-07-28
# -32020..-32099 is reserved for the MCP specification: never emit a code from it that
# the spec does not define.

#: HTTP headers missing, malformed or disagreeing with the body (HTTP 400).
HEADER_MISMATCH = -32020
#: The request needs a client capability its ``_meta`` did not declare (HTTP 400).
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
#: The request's protocol version is not one this server speaks (HTTP 400).
UNSUPPORTED_PROTOCOL_VERSION = -32022


def header_mismatch(message: str) -> McpError:
    return McpError(HEADER_MISMATCH, f"Header mismatch: {message}")


def missing_client_capability(capabilities: dict[str, Any], message: str) -> McpError:
    """``capabilities`` is a ClientCapabilities object, e.g. ``{"sampling": {}}``."""
    return McpError(
        MISSING_REQUIRED_CLIENT_CAPABILITY, message, {"requiredCapabilities": capabilities}
    )


def unsupported_protocol_version(requested: str, supported: list[str]) -> McpError:
    return McpError(
        UNSUPPORTED_PROTOCOL_VERSION,
        f"Unsupported protocol version {requested[:40]!r}; supported: {', '.join(supported)}",
        {"supported": supported, "requested": requested},
    )


def modern_http_status(code: int) -> int:
    """The HTTP status of a JSON-RPC error on the 2026-07-28 wire.

    The transport-level refusals get their own status (400 for -32020/-32021/-32022 and
    malformed bodies, 404 for an unknown method, so a client can tell a modern server
    from a legacy one); any other error is an answer to a processed request (200).
    """
    if code == METHOD_NOT_FOUND:
        return 404
    if code in (
        HEADER_MISMATCH,
        MISSING_REQUIRED_CLIENT_CAPABILITY,
        UNSUPPORTED_PROTOCOL_VERSION,
        PARSE_ERROR,
        INVALID_REQUEST,
    ):
        return 400
    return 200


class ToolError(Exception):
    """A tool failed at its job: the client gets an ``isError`` result with this message.

    Write the message for the person at the other end: what went wrong and what to do.
    (Defined here, below ``server/``, so that ``secrets`` can raise one.)
    """
