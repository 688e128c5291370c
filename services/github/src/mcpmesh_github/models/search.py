"""Results of the search toolset: code and users."""

from __future__ import annotations

import msgspec

from mcpmesh.guard.sanitize import (
    TrustLabel,
    trust_label,
)
from mcpmesh_github.models.common import (
    Page,
    labelled_text,
)


class CodeHit(msgspec.Struct, kw_only=True):
    repository: str
    path: str
    name: str
    sha: str
    html_url: str


class CodeHitList(Page, kw_only=True):
    total_count: int | None = None
    items: list[CodeHit] = []
    trust: TrustLabel = trust_label("items[].path")

    def render(self) -> str:
        lines = [f"{h.repository}:{h.path}" for h in self.items] or ["No matches."]
        return labelled_text([*lines, self.footer()], source="code search", trust=self.trust)


class UserHit(msgspec.Struct, kw_only=True):
    login: str
    id: int
    type: str
    html_url: str


class UserHitList(Page, kw_only=True):
    total_count: int | None = None
    items: list[UserHit] = []

    def render(self) -> str:
        lines = [f"{u.login} ({u.type}) {u.html_url}" for u in self.items] or ["No users."]
        return "\n".join([*lines, self.footer()])
