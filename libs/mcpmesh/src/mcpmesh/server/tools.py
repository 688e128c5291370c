"""Tool registration: derive the schemas from the handler's types, validate, call."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog

from mcpmesh.protocol.errors import McpError
from mcpmesh.protocol.headers import HeaderParam, header_params
from mcpmesh.protocol.types import (
    CallToolResult,
    Icon,
    TextContent,
    Tool,
    ToolAnnotations,
)
from mcpmesh.server.context import Context
from mcpmesh.server.handlers import handler_types
from mcpmesh.server.results import ToolError, ToolResult
from mcpmesh.server.schema import NO_ARGUMENTS, object_schema
from mcpmesh.server.schema import input_schema as args_schema

log = structlog.get_logger("mcpmesh.tools")

ToolHandler = Callable[..., Awaitable[Any]]


def _is_structured(returned: Any) -> bool:
    """A Struct return type describes structured output; the library's own result
    types (``ToolResult``, ``CallToolResult``) and tagged content blocks do not."""
    return (
        inspect.isclass(returned)
        and issubclass(returned, msgspec.Struct)
        and not issubclass(returned, ToolResult | CallToolResult)
        and returned.__struct_config__.tag_field is None
    )


class ToolSpec:
    """One registered tool: its wire description and how to call it."""

    def __init__(
        self,
        handler: ToolHandler,
        *,
        name: str,
        description: str,
        title: str | None,
        annotations: ToolAnnotations | None,
        icons: list[Icon] | None,
        input_schema: dict[str, Any] | None,
        output_type: type | None,
        scopes: list[str] | None = None,
    ) -> None:
        self.handler = handler
        self.name = name
        #: What a caller must be granted to call it (checked by the authorization middleware).
        self.scopes: list[str] = list(scopes or [])
        self.args_type, returned = handler_types(handler, f"tool {name}")
        #: A raw JSON Schema is enforced as declared (the Struct, if any, only decodes).
        self._validator: Any = None
        if input_schema is not None:
            # Only a raw schema needs jsonschema-rs (~5 MB resident): imported here, at
            # registration, so a missing or broken install still stops the start.
            import jsonschema_rs

            try:
                self._validator = jsonschema_rs.validator_for(input_schema)
            except (ValueError, jsonschema_rs.ValidationError) as exc:
                raise TypeError(f"tool {name}: invalid input_schema: {exc}") from None
        if input_schema is None:
            input_schema = NO_ARGUMENTS if self.args_type is None else args_schema(self.args_type)
        #: ``x-mcp-header`` parameters (2026 wire); a bad annotation stops the start here.
        self.header_params: tuple[HeaderParam, ...] = header_params(name, input_schema)
        if output_type is None and _is_structured(returned):
            output_type = returned
        self.output_type = output_type
        self._decoder: msgspec.json.Decoder[Any] | None = (
            msgspec.json.Decoder(self.args_type) if self.args_type else None
        )
        self.tool = Tool(
            name=name,
            title=title,
            description=description,
            input_schema=input_schema,
            output_schema=object_schema(output_type) if output_type else None,
            annotations=annotations,
            icons=icons,
        )

    async def call(self, ctx: Context, arguments: msgspec.Raw) -> CallToolResult:
        """Validate the arguments and run the handler; failures become ``isError`` results."""
        call_args: tuple[Any, ...] = (ctx,)
        if self._validator is not None:
            problem = self._schema_problem(arguments)
            if problem is not None:
                return ToolResult.error(
                    f"Invalid arguments for tool {self.name}: {problem}"
                ).to_wire()
        if self._decoder is not None:
            try:
                raw = b"{}" if bytes(arguments) == b"null" else arguments
                call_args = (ctx, self._decoder.decode(raw))
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                return ToolResult.error(f"Invalid arguments for tool {self.name}: {exc}").to_wire()
        try:
            return self._to_result(await self.handler(*call_args))
        except ToolError as exc:
            return ToolResult.error(str(exc)).to_wire()
        except McpError:
            raise  # a protocol error (e.g. -32021 on the 2026 wire): a JSON-RPC error
        except Exception:
            log.exception("tool_failed", tool=self.name)
            return ToolResult.error(
                f"Tool {self.name} failed unexpectedly; the details are in the service log."
            ).to_wire()

    def _schema_problem(self, arguments: msgspec.Raw) -> str | None:
        """Why the arguments do not match the declared schema, or None when they do."""
        try:
            value = msgspec.json.decode(arguments)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return str(exc)
        error = next(self._validator.iter_errors({} if value is None else value), None)
        if error is None:
            return None
        where = "/".join(str(part) for part in error.instance_path)
        return f"{error.message} (at {where or 'the top level'})"

    def _to_result(self, value: Any) -> CallToolResult:
        if isinstance(value, ToolResult):
            return value.to_wire()
        if isinstance(value, CallToolResult):
            return value
        if isinstance(value, str):
            return CallToolResult(content=[TextContent(value)])
        if isinstance(value, list):
            return CallToolResult(content=value)
        if self.output_type is not None:
            structured = msgspec.to_builtins(value)
            text = msgspec.json.encode(structured).decode()
            return CallToolResult(content=[TextContent(text)], structured_content=structured)
        if isinstance(value, msgspec.Struct) and hasattr(value, "type"):
            return CallToolResult(content=[value])
        raise TypeError(f"tool {self.name} returned an unsupported value: {type(value).__name__}")
