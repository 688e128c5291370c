"""Request-metadata headers of the 2026-07-28 Streamable HTTP wire (SEP-2243), as pure
functions: ``Mcp-Method``, ``Mcp-Name``, the ``=?base64?…?=`` value form, and the
``Mcp-Param-*`` headers a tool declares with ``x-mcp-header`` in its input schema.

Headers mirror body fields so that intermediaries can route without parsing JSON; a
server that executes the body must therefore refuse any disagreement, or a load balancer
and this server would act on different truths. Every refusal is HTTP 400 with -32020
(HeaderMismatch) and a message naming the header.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from mcpmesh.protocol.errors import header_mismatch
from mcpmesh.protocol.v2026 import Headers, WireError, refusal, single_header

METHOD_HEADER = "Mcp-Method"
NAME_HEADER = "Mcp-Name"
PARAM_HEADER_PREFIX = "Mcp-Param-"
#: ``x-mcp-header`` names: an HTTP token (RFC 9110 §5.6.2 ``1*tchar``).
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: A plain header value: visible ASCII, space and tab (RFC 9110 §5.5).
_PLAIN_VALUE = re.compile(r"^[\x20-\x7e\t]*$")
_B64_PREFIX, _B64_SUFFIX = "=?base64?", "?="
_JS_SAFE_INTEGER = 2**53 - 1

#: The body field ``Mcp-Name`` mirrors, per method.
NAME_FIELD: Mapping[str, str] = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
}


def _mismatch(message: str) -> WireError:
    return refusal(header_mismatch(message))


def decode_value(raw: str, header: str) -> str:
    """A header value as the text it carries: ``=?base64?<b64>?=`` decoded (strict
    alphabet and padding, UTF-8), anything else literal. Control or non-ASCII characters
    in a plain value are refused — a client must have base64-encoded them."""
    if raw.startswith(_B64_PREFIX) and raw.endswith(_B64_SUFFIX) and len(raw) >= 11:
        encoded = raw[len(_B64_PREFIX) : -len(_B64_SUFFIX)]
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise _mismatch(
                f"{header} is not valid =?base64?…?= (UTF-8 in standard base64)"
            ) from None
    if not _PLAIN_VALUE.match(raw):
        raise _mismatch(f"{header} contains characters that need the =?base64?…?= form")
    return raw


def encode_value(text: str) -> str:
    """How a client must send ``text`` (for tests and the mesh's own clients)."""
    plain = (
        _PLAIN_VALUE.match(text)
        and "\t" not in text
        and text == text.strip(" ")
        and not (text.startswith(_B64_PREFIX) and text.endswith(_B64_SUFFIX))
    )
    if plain:
        return text
    return _B64_PREFIX + base64.b64encode(text.encode()).decode() + _B64_SUFFIX


def check_standard_headers(headers: Headers, method: str, params: Mapping[str, Any]) -> None:
    """``Mcp-Method`` must equal the body's method (case-sensitive); ``Mcp-Name`` must
    equal ``params.name`` (tools/call, prompts/get) or ``params.uri`` (resources/read)
    after decoding. Missing where required, sent twice, or different: -32020."""
    sent = single_header(headers, METHOD_HEADER)
    if sent is None:
        raise _mismatch(f"the {METHOD_HEADER} header is required")
    if sent != method:
        raise _mismatch(
            f"{METHOD_HEADER} header {sent[:80]!r} does not match body method {method[:80]!r}"
        )
    field = NAME_FIELD.get(method)
    if field is None:
        return
    body_value = params.get(field)
    raw = single_header(headers, NAME_HEADER)
    if raw is None:
        if isinstance(body_value, str):
            raise _mismatch(f"the {NAME_HEADER} header is required for {method}")
        return  # the params decoder reports the missing/ill-typed field (-32602)
    value = decode_value(raw, NAME_HEADER)
    if value != body_value:
        raise _mismatch(
            f"{NAME_HEADER} header {value[:80]!r} does not match body params.{field} "
            f"{str(body_value)[:80]!r}"
        )


# ---------------------------------------------------------------- x-mcp-header


class HeaderParam(msgspec.Struct, frozen=True):
    """One argument a tool mirrors into ``Mcp-Param-<header>``."""

    #: The chain of ``properties`` keys from the schema root to the argument.
    path: tuple[str, ...]
    #: The name after ``Mcp-Param-`` (compared case-insensitively).
    header: str
    type: str  # "string" | "integer" | "boolean"

    @property
    def header_name(self) -> str:
        return PARAM_HEADER_PREFIX + self.header


#: Keywords holding one subschema or a list of them: nothing under them is a header.
_UNREACHABLE_SCHEMAS = frozenset(
    {"items", "prefixItems", "additionalProperties", "contains", "oneOf", "anyOf", "allOf"}
    | {"not", "if", "then", "else", "unevaluatedProperties", "propertyNames"}
)
#: Keywords holding a map of name → subschema.
_UNREACHABLE_MAPS = frozenset({"$defs", "definitions", "patternProperties", "dependentSchemas"})


def header_params(tool: str, input_schema: Mapping[str, Any]) -> tuple[HeaderParam, ...]:
    """The ``x-mcp-header`` declarations of a tool's input schema, validated.

    Raises ``ValueError`` naming the tool and the problem for an annotation a client
    would reject (and so drop the tool): not an HTTP token, a duplicate (case-
    insensitively), on a ``number``/object/array, or not reachable through
    ``properties`` alone. Called when a tool is registered, so a bad schema stops the
    service at start rather than making the tool silently vanish from clients.
    """
    found: list[HeaderParam] = []
    _walk(tool, input_schema, (), found, reachable=True)
    seen: dict[str, HeaderParam] = {}
    for param in found:
        key = param.header.lower()
        if key in seen:
            raise ValueError(
                f"tool {tool!r}: x-mcp-header {param.header!r} is declared twice "
                f"({'.'.join(seen[key].path)} and {'.'.join(param.path)})"
            )
        seen[key] = param
    return tuple(found)


def _walk(
    tool: str,
    schema: Any,
    path: tuple[str, ...],
    found: list[HeaderParam],
    *,
    reachable: bool,
) -> None:
    if isinstance(schema, list):
        for item in schema:
            _walk(tool, item, path, found, reachable=False)
        return
    if not isinstance(schema, Mapping):
        return
    where = ".".join(path) or "(root)"
    if "x-mcp-header" in schema:
        name = schema["x-mcp-header"]
        if not reachable or not path:
            raise ValueError(
                f"tool {tool!r}: x-mcp-header at {where} is not reachable through "
                "`properties` alone (no items, $ref, oneOf/anyOf/allOf, if/then/else)"
            )
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(
                f"tool {tool!r}: x-mcp-header {name!r} at {where} is not an HTTP token"
            )
        kind = schema.get("type")
        if kind not in ("string", "integer", "boolean"):
            raise ValueError(
                f"tool {tool!r}: x-mcp-header {name!r} at {where} is on type {kind!r}; "
                "only string, integer and boolean parameters can be headers"
            )
        found.append(HeaderParam(path=path, header=name, type=kind))
    for key, sub in schema.items():
        if key == "properties" and isinstance(sub, Mapping):
            for prop, prop_schema in sub.items():
                _walk(tool, prop_schema, (*path, prop), found, reachable=reachable)
        elif key in _UNREACHABLE_SCHEMAS:
            _walk(tool, sub, path, found, reachable=False)
        elif key in _UNREACHABLE_MAPS and isinstance(sub, Mapping):
            for sub_schema in sub.values():
                _walk(tool, sub_schema, path, found, reachable=False)


_MISSING = object()


def _value_at(arguments: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = arguments
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _same(param: HeaderParam, header_text: str, body: Any) -> bool:
    if param.type == "boolean" or isinstance(body, bool):
        return isinstance(body, bool) and header_text == ("true" if body else "false")
    if param.type == "integer" and isinstance(body, int | float):
        try:
            number = float(header_text)
        except ValueError:
            return False
        return math.isfinite(number) and number == body and abs(body) <= _JS_SAFE_INTEGER
    return isinstance(body, str) and header_text == body


def check_param_headers(
    headers: Headers, params: tuple[HeaderParam, ...], arguments: Mapping[str, Any]
) -> None:
    """Each declared ``Mcp-Param-*`` header must be present exactly when the argument has
    a non-null value, and equal it after decoding (integers compared numerically,
    booleans as ``true``/``false``). Unknown ``Mcp-Param-*`` headers are ignored, as an
    intermediary's would be. Any disagreement: -32020."""
    for param in params:
        body = _value_at(arguments, param.path)
        raw = single_header(headers, param.header_name)
        where = "arguments." + ".".join(param.path)
        if body is _MISSING or body is None:
            if raw is not None:
                raise _mismatch(f"{param.header_name} header is sent but {where} is absent")
            continue
        if raw is None:
            raise _mismatch(f"the {param.header_name} header is required: {where} is set")
        text = decode_value(raw, param.header_name)
        if not _same(param, text, body):
            raise _mismatch(
                f"{param.header_name} header {text[:80]!r} does not match {where} "
                f"{msgspec.json.encode(body).decode()[:80]}"
            )
