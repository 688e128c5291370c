"""Results of the context toolset (who the service acts as)."""

from __future__ import annotations

from typing import Any

import msgspec

from mcpmesh.guard.sanitize import (
    sanitize_text,
    strip_invisible,
)


class Me(msgspec.Struct, kw_only=True):
    kind: str  # "user" or "app"
    login: str
    id: int
    name: str | None = None
    html_url: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any], kind: str) -> Me:
        login = data.get("login") or data.get("slug") or data.get("name") or ""
        return cls(
            kind=kind,
            login=strip_invisible(login),
            id=int(data.get("id") or 0),
            name=sanitize_text(data.get("name")) or None,
            html_url=data.get("html_url"),
        )

    def render(self) -> str:
        who = f"{self.login} ({self.name})" if self.name and self.name != self.login else self.login
        return f"Authenticated as {self.kind} {who}, id {self.id}"
