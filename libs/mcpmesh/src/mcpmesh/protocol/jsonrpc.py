"""JSON-RPC 2.0 framing: decode one inbound message, encode outbound ones.

An inbound body is decoded once into :class:`Message`; its ``params`` stay raw JSON
until the method's handler decodes them into that method's own Struct, so no dicts
are passed around and no byte is parsed twice.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

from mcpmesh.protocol.errors import INVALID_REQUEST, PARSE_ERROR, McpError, invalid_params

RequestId = int | str
T = TypeVar("T")

_EMPTY = Raw(b"{}")

#: Deepest nesting of objects and arrays accepted in one inbound message, the envelope
#: included (``ServerSettings.max_json_depth``). msgspec itself recurses and gives up near
#: Python's recursion limit; a limit well below it keeps the refusal a clean error.
MAX_DEPTH = 64
#: A JSON string literal (the unrolled-loop form: linear, no backtracking).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")


class ErrorObject(Struct, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Message(Struct, omit_defaults=True):
    """Any inbound JSON-RPC message; :func:`decode_message` classifies it."""

    jsonrpc: str | UnsetType = UNSET
    id: int | str | UnsetType | None = UNSET
    method: str | UnsetType = UNSET
    params: Raw = _EMPTY
    result: Raw | UnsetType = UNSET
    error: ErrorObject | UnsetType = UNSET

    @property
    def request_id(self) -> RequestId:
        """The id of a request or response (:func:`decode_message` guarantees one)."""
        if isinstance(self.id, UnsetType) or self.id is None:
            raise ValueError("this message has no id")
        return self.id

    @property
    def is_request(self) -> bool:
        return self.method is not UNSET and self.id is not UNSET

    @property
    def is_notification(self) -> bool:
        return self.method is not UNSET and self.id is UNSET

    @property
    def is_response(self) -> bool:
        return self.method is UNSET


class _Outbound(Struct, omit_defaults=True):
    jsonrpc: str
    id: int | str | UnsetType | None = UNSET
    method: str | UnsetType = UNSET
    params: Any = UNSET
    result: Any = UNSET
    error: ErrorObject | UnsetType = UNSET


_decoder = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()


def check_depth(body: bytes, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``max_depth`` (``PARSE_ERROR``), before parsing it.

    The hot path is two C-speed byte counts: a body with at most ``max_depth`` brackets
    cannot be nested deeper. Only a body with more is measured, inside ``bytes`` methods:
    string literals removed, brackets kept, then a run of ``max_depth`` + 1 openers
    refuses at once; otherwise innermost ``()`` pairs are peeled once per level, at most
    ``max_depth`` passes.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return
    shape = _STRING.sub(b"", body).translate(_AS_PARENS, _NOT_BRACKETS)
    too_deep = b"(" * (max_depth + 1)  # the usual attack: one long run of openers
    for _ in range(max_depth):
        if too_deep in shape:
            break
        peeled = shape.replace(b"()", b"")
        if len(peeled) == len(shape):
            return
        shape = peeled
    if too_deep in shape or b"()" in shape:
        raise McpError(PARSE_ERROR, f"Parse error: JSON nested deeper than {max_depth} levels")


def decode_message(body: bytes, max_depth: int = MAX_DEPTH) -> Message:
    """Decode and validate one JSON-RPC message.

    Raises :class:`McpError` with ``PARSE_ERROR`` for bytes that are not JSON (invalid
    UTF-8 included, or nested deeper than ``max_depth``) and ``INVALID_REQUEST`` for JSON
    that is not one JSON-RPC message; batches are refused, as MCP has had none since
    2025-06-18.
    """
    check_depth(body, max_depth)
    try:
        message = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        if body.lstrip()[:1] == b"[":
            raise McpError(INVALID_REQUEST, "JSON-RPC batches are not supported") from None
        raise McpError(INVALID_REQUEST, f"Not a JSON-RPC 2.0 message: {exc}") from None
    except msgspec.DecodeError as exc:
        raise McpError(PARSE_ERROR, f"Parse error: {exc}") from None
    except UnicodeDecodeError:
        raise McpError(PARSE_ERROR, "Parse error: the body is not valid UTF-8") from None
    except RecursionError:
        raise McpError(PARSE_ERROR, "Parse error: JSON nested too deeply") from None
    if message.jsonrpc != "2.0":
        raise McpError(INVALID_REQUEST, 'Not a JSON-RPC 2.0 message: "jsonrpc" must be "2.0"')
    if message.method is not UNSET:
        if message.id is None:
            raise McpError(INVALID_REQUEST, "Request id must be a string or an integer, not null")
        if message.result is not UNSET or message.error is not UNSET:
            raise McpError(INVALID_REQUEST, "A message cannot have both a method and a result")
        return message
    if message.id is UNSET or message.id is None:
        raise McpError(INVALID_REQUEST, "Not a JSON-RPC 2.0 message: no method and no id")
    if (message.result is UNSET) == (message.error is UNSET):
        raise McpError(INVALID_REQUEST, "A response needs exactly one of result and error")
    return message


def decode_params(raw: Raw, type_: type[T]) -> T:
    """Decode a message's params into ``type_``; bad params are ``INVALID_PARAMS``."""
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.DecodeError as exc:
        raise invalid_params(f"Invalid params: {exc}") from None
    except UnicodeDecodeError:
        raise McpError(PARSE_ERROR, "Parse error: the params are not valid UTF-8") from None
    except RecursionError:
        raise invalid_params("Invalid params: nested too deeply") from None


def encode_result(id_: RequestId, result: Any) -> bytes:
    return _encoder.encode(_Outbound("2.0", id=id_, result=result))


def encode_error(id_: RequestId | None, code: int, message: str, data: Any = None) -> bytes:
    return _encoder.encode(_Outbound("2.0", id=id_, error=ErrorObject(code, message, data)))


def encode_request(id_: RequestId, method: str, params: Any) -> bytes:
    return _encoder.encode(_Outbound("2.0", id=id_, method=method, params=params))


def encode_notification(method: str, params: Any = UNSET) -> bytes:
    return _encoder.encode(_Outbound("2.0", method=method, params=params))


def encode(value: Any) -> bytes:
    """Encode any wire value (Struct, dict, list) as JSON."""
    return _encoder.encode(value)
