"""A plain-text table of a result, for clients and models that read text content."""

from __future__ import annotations

import re
from typing import Any

import msgspec

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
MAX_CELL = 60
MAX_TEXT_ROWS = 100


def cell(value: Any) -> str:
    """One value on one line: control and direction-changing characters escaped."""
    if value is None:
        text = "NULL"
    elif isinstance(value, str):
        text = value
    else:
        text = msgspec.json.encode(value).decode()
    if _CONTROL.search(text) is not None:  # rare: most cells have nothing to escape
        text = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def render(columns: list[str], rows: list[list[Any]]) -> str:
    """psql-style aligned columns (the first ``MAX_TEXT_ROWS`` rows)."""
    shown = [[cell(v) for v in row] for row in rows[:MAX_TEXT_ROWS]]
    headers = [cell(c) for c in columns]
    widths = [max([len(h)] + [len(r[i]) for r in shown]) for i, h in enumerate(headers)]
    lines = [
        " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in shown]
    if len(rows) > MAX_TEXT_ROWS:
        lines.append(f"… {len(rows) - MAX_TEXT_ROWS} more rows in the structured result")
    return "\n".join(line.rstrip() for line in lines)
