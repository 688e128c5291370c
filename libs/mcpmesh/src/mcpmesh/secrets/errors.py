"""The one error a credential lookup raises."""

from __future__ import annotations

from mcpmesh.protocol.errors import ToolError


class SecretUnavailable(ToolError):
    """A credential could not be had. The message says WHAT is missing and HOW to set it
    (e.g. ``mcpmesh secrets set github token``) and never contains a secret value.

    It is a :class:`~mcpmesh.ToolError`, so a handler that lets it
    propagate gives the client a clear ``isError`` result instead of a stack trace.
    """

    def __init__(self, message: str, *, service: str | None = None, name: str | None = None):
        super().__init__(message)
        self.service = service
        self.name = name


def how_to_set(service: str, name: str, principal: str | None = None) -> str:
    """The command that puts a missing static secret into Vault."""
    target = f"{service} {name}" if principal is None else f"{service} {name} --for {principal}"
    return f"set it with `mcpmesh secrets set {target}` (the value is read from standard input)"
