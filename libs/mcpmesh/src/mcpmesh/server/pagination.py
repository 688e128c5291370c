"""Opaque pagination cursors for the list methods."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar

from mcpmesh.protocol.errors import invalid_params

T = TypeVar("T")


def _encode(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode().rstrip("=")


def _decode(kind: str, cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        cursor_kind, _, offset_text = raw.partition(":")
        offset = int(offset_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_params(f"Invalid cursor: {cursor[:64]!r}") from None
    if cursor_kind != kind or offset < 0:
        raise invalid_params(f"Invalid cursor: {cursor[:64]!r}")
    return offset


def paginate(
    kind: str, items: Sequence[T], cursor: str | None, page_size: int
) -> tuple[list[T], str | None]:
    """One page of ``items`` and the cursor of the next page (``None`` on the last).

    ``kind`` binds a cursor to its list, so a tools cursor sent to resources/list is
    refused as invalid instead of silently paging through the wrong list.
    """
    offset = 0 if cursor is None else _decode(kind, cursor)
    if offset > len(items):
        raise invalid_params(f"Invalid cursor: {cursor!r} is past the end of the list")
    end = offset + page_size
    next_cursor = _encode(kind, end) if end < len(items) else None
    return list(items[offset:end]), next_cursor
