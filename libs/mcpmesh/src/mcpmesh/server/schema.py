"""JSON Schema for tool inputs and outputs, derived from msgspec types."""

from __future__ import annotations

from typing import Any

import msgspec

#: The schema of a tool that takes no arguments (what the spec recommends).
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "additionalProperties": False}

_NULL = {"type": "null"}


def object_schema(type_: type) -> dict[str, Any]:
    """An inline object schema for a Struct type, with nested types under ``$defs``.

    msgspec puts the top-level type itself under ``$defs`` and answers with a ``$ref``;
    MCP wants ``inputSchema``/``outputSchema`` to be an object schema at the top, so the
    top-level definition is lifted out. The struct's docstring is the tool's
    description, not the schema's, so ``title``/``description`` are dropped.
    This is the exact schema of what the type holds (an ``X | None`` field says it may
    be ``null``): right for output a client checks; for input use :func:`input_schema`.
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


def input_schema(type_: type) -> dict[str, Any]:
    """The schema a client fills in for a Struct type: an optional field is simply not
    required, with its plain type.

    msgspec describes ``head: int | None = None`` as ``anyOf: [{integer}, {null}]``;
    form-building clients (the MCP Inspector among them) cannot enter a value for such
    a field at all, and elicitation schemas must be flat primitives. Leaving the field
    out means "not given", so the ``null`` branch says nothing a client needs. The
    decoder still accepts an explicit ``null`` for it.
    """
    top = object_schema(type_)
    _plain_optionals(top)
    for definition in top.get("$defs", {}).values():
        _plain_optionals(definition)
    return top


def _plain_optionals(schema: dict[str, Any]) -> None:
    if schema.get("type") != "object":
        return
    required = set(schema.get("required", ()))
    properties: dict[str, Any] = schema.get("properties", {})
    for name, prop in properties.items():
        if name not in required:
            properties[name] = _without_null(prop)


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    branches = prop.get("anyOf")
    if not isinstance(branches, list) or _NULL not in branches:
        return prop
    rest = [branch for branch in branches if branch != _NULL]
    plain = {key: value for key, value in prop.items() if key != "anyOf"}
    if "default" in plain and plain["default"] is None:
        del plain["default"]  # a null default contradicts the plain type; absent means unset
    if len(rest) == 1:
        return {**rest[0], **plain}
    return {**plain, "anyOf": rest} if rest else plain
