"""Resources and resource templates: registration, matching, reading."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from mcpmesh.protocol.types import (
    BlobResourceContents,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)
from mcpmesh.server.context import Context
from mcpmesh.server.uritemplate import UriTemplate

ResourceHandler = Callable[..., Awaitable[Any]]


def to_contents(uri: str, value: Any, mime_type: str | None) -> list[Any]:
    """Normalize what a resource handler returned into a list of resource contents."""
    if isinstance(value, str):
        return [TextResourceContents(uri=uri, text=value, mime_type=mime_type)]
    if isinstance(value, bytes | bytearray | memoryview):
        blob = base64.b64encode(value).decode("ascii")
        return [BlobResourceContents(uri=uri, blob=blob, mime_type=mime_type)]
    if isinstance(value, TextResourceContents | BlobResourceContents):
        return [value]
    if isinstance(value, list):
        return [item for entry in value for item in to_contents(uri, entry, mime_type)]
    raise TypeError(f"resource {uri}: unsupported value {type(value).__name__}")


class ResourceSpec:
    def __init__(self, resource: Resource, handler: ResourceHandler) -> None:
        self.resource = resource
        self.handler = handler

    async def read(self, ctx: Context, uri: str) -> list[Any]:
        return to_contents(uri, await self.handler(ctx), self.resource.mime_type)


class TemplateSpec:
    def __init__(self, template: ResourceTemplate, handler: ResourceHandler) -> None:
        self.template = template
        self.handler = handler
        self.matcher = UriTemplate(template.uri_template)

    async def read(self, ctx: Context, uri: str, variables: dict[str, str]) -> list[Any]:
        value = await self.handler(ctx, uri, **variables)
        return to_contents(uri, value, self.template.mime_type)
