"""What every result shares: pagination facts, truncation, labelled text, write results.

Everything a third party wrote goes through :mod:`mcpmesh.guard.sanitize` when a
result is built (the ``from_api`` constructors), and results holding such text carry a
:class:`~mcpmesh.guard.sanitize.TrustLabel`."""

from __future__ import annotations

from typing import Any

import msgspec

from mcpmesh.guard.sanitize import (
    UNTRUSTED_NOTICE,
    TrustLabel,
    strip_invisible,
    untrusted_block,
)


def login_of(user: Any) -> str | None:
    return strip_invisible(user.get("login") or "") or None if isinstance(user, dict) else None


def first_line(text: str, limit: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def truncate(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit], True


def fields_of(struct: msgspec.Struct) -> dict[str, Any]:
    """A Struct's fields, to build a richer result from a summary."""
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


def labelled_text(lines: list[str], *, source: str, trust: TrustLabel | None) -> str:
    """Compact text for the content block; third-party text is fenced and labelled."""
    body = "\n".join(lines)
    if trust is None:
        return body
    return f"{UNTRUSTED_NOTICE}\n{untrusted_block(body, source=source)}"


class Page(msgspec.Struct, kw_only=True):
    """Pagination facts every list result shares."""

    page: int
    per_page: int
    #: The page to ask for next, or None when this was the last one.
    next_page: int | None = None
    #: Items dropped because their repository is not in the allowlist.
    filtered_out: int = 0
    #: Items withheld by lockdown mode (authors without push access).
    withheld: int = 0

    def footer(self) -> str:
        notes = [f"page {self.page}"]
        if self.next_page:
            notes.append(f"more: page={self.next_page}")
        if self.filtered_out:
            notes.append(f"{self.filtered_out} outside the repository allowlist, not shown")
        if self.withheld:
            notes.append(f"{self.withheld} withheld by lockdown (authors without push access)")
        return "(" + "; ".join(notes) + ")"


class WriteResult(msgspec.Struct, kw_only=True):
    """What a write tool did."""

    action: str
    repository: str
    html_url: str | None = None
    sha: str | None = None
    number: int | None = None
    ref: str | None = None

    def render(self) -> str:
        parts = [self.action, self.repository]
        if self.number is not None:
            parts.append(f"#{self.number}")
        if self.ref:
            parts.append(self.ref)
        if self.sha:
            parts.append(self.sha[:12])
        if self.html_url:
            parts.append(self.html_url)
        return " ".join(parts)
