"""Prompts: arguments derived from a Struct of strings, rendered to messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from mcpmesh.protocol.errors import invalid_params
from mcpmesh.protocol.types import (
    GetPromptResult,
    Icon,
    Prompt,
    PromptArgument,
    PromptMessage,
    TextContent,
)
from mcpmesh.server.context import Context
from mcpmesh.server.handlers import handler_types
from mcpmesh.server.schema import object_schema

PromptHandler = Callable[..., Awaitable[Any]]


class PromptSpec:
    def __init__(
        self,
        handler: PromptHandler,
        *,
        name: str,
        title: str | None,
        description: str | None,
        icons: list[Icon] | None,
    ) -> None:
        self.handler = handler
        self.args_type, _ = handler_types(handler, f"prompt {name}")
        arguments = None
        if self.args_type is not None:
            schema = object_schema(self.args_type)
            required = set(schema.get("required", []))
            arguments = [
                PromptArgument(
                    name=key,
                    description=prop.get("description"),
                    required=key in required,
                )
                for key, prop in schema.get("properties", {}).items()
            ]
        self.prompt = Prompt(
            name=name, title=title, description=description, arguments=arguments, icons=icons
        )

    async def get(self, ctx: Context, arguments: dict[str, str] | None) -> GetPromptResult:
        if self.args_type is None:
            value = await self.handler(ctx)
        else:
            try:
                args: Any = msgspec.convert(arguments or {}, self.args_type)
            except msgspec.ValidationError as exc:
                raise invalid_params(
                    f"Invalid arguments for prompt {self.prompt.name}: {exc}"
                ) from None
            value = await self.handler(ctx, args)
        if isinstance(value, GetPromptResult):
            return value
        if isinstance(value, str):
            value = [PromptMessage(role="user", content=TextContent(value))]
        return GetPromptResult(messages=value, description=self.prompt.description)
