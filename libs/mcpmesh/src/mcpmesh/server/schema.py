"""JSON Schema for tool inputs and outputs, derived from msgspec types."""

from __future__ import annotations

from typing import Any

import msgspec

#: The schema of a tool that takes no arguments (what the spec recommends).
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "additionalProperties": False}


def object_schema(type_: type) -> dict[str, Any]:
    """An inline object schema for a Struct type, with nested types under ``$defs``.

    msgspec puts the top-level type itself under ``$defs`` and answers with a ``$ref``;
    MCP wants ``inputSchema``/``outputSchema`` to be an object schema at the top, so the
    top-level definition is lifted out. The struct's docstring is the tool's
    description, not the schema's, so ``title``/``description`` are dropped.
    """
    schema = msgspec.json.schema(type_)
    defs: dict[str, Any] = schema.get("$defs", {})
    ref = schema.get("$ref", "")
    if not ref.startswith("#/$defs/"):
        raise TypeError(f"{type_!r} does not describe a JSON object")
    top = dict(defs.pop(ref.removeprefix("#/$defs/")))
    if top.get("type") != "object":
        raise TypeError(f"{type_!r} does not describe a JSON object")
    top.pop("title", None)
    top.pop("description", None)
    if defs:
        top["$defs"] = defs
    return top
