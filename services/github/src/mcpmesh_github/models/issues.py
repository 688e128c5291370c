"""Results of the issues toolset: issues and their comments."""

from __future__ import annotations

from typing import Any

import msgspec

from mcpmesh.guard.sanitize import (
    TrustLabel,
    sanitize_text,
    trust_label,
)
from mcpmesh_github.models.common import (
    Page,
    labelled_text,
    login_of,
    truncate,
)


class IssueSummary(msgspec.Struct, kw_only=True):
    number: int
    title: str
    state: str
    author: str | None = None
    labels: list[str] = []
    comments: int = 0
    repository: str | None = None
    is_pull_request: bool = False
    created_at: str | None = None
    updated_at: str | None = None
    html_url: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> IssueSummary:
        repo_url = d.get("repository_url") or ""
        return cls(
            number=int(d.get("number") or 0),
            title=sanitize_text(d.get("title")),
            state=d.get("state", ""),
            author=login_of(d.get("user")),
            labels=[
                sanitize_text(label.get("name") if isinstance(label, dict) else str(label))
                for label in d.get("labels") or []
            ],
            comments=int(d.get("comments") or 0),
            repository="/".join(repo_url.rstrip("/").split("/")[-2:]) if repo_url else None,
            is_pull_request="pull_request" in d,
            created_at=d.get("created_at"),
            updated_at=d.get("updated_at"),
            html_url=d.get("html_url", ""),
        )

    def line(self) -> str:
        where = f"{self.repository}" if self.repository else ""
        kind = "PR " if self.is_pull_request else ""
        labels = f" [{', '.join(self.labels)}]" if self.labels else ""
        return (
            f"{where}#{self.number} {kind}({self.state}) {self.title}{labels} — "
            f"by {self.author}, {self.comments} comments"
        )


class IssueList(Page, kw_only=True):
    total_count: int | None = None
    items: list[IssueSummary] = []
    trust: TrustLabel = trust_label("items[].title", "items[].labels")

    def render(self) -> str:
        lines = [i.line() for i in self.items] or ["No issues."]
        return labelled_text([*lines, self.footer()], source="issues", trust=self.trust)


class IssueDetail(IssueSummary, kw_only=True):
    body: str = ""
    body_truncated: bool = False
    assignees: list[str] = []
    closed_at: str | None = None
    trust: TrustLabel = trust_label("title", "body", "labels")

    def render(self) -> str:
        lines = [self.line(), f"opened {self.created_at}, {self.html_url}", "", self.body]
        if self.body_truncated:
            lines.append("[body truncated]")
        return labelled_text(lines, source=f"issue #{self.number}", trust=self.trust)


class Comment(msgspec.Struct, kw_only=True):
    id: int
    author: str | None
    body: str
    created_at: str | None = None
    html_url: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any], limit: int) -> Comment:
        body, cut = truncate(sanitize_text(d.get("body")), limit)
        return cls(
            id=int(d.get("id") or 0),
            author=login_of(d.get("user")),
            body=body + ("\n[comment truncated]" if cut else ""),
            created_at=d.get("created_at") or d.get("submitted_at"),
            html_url=d.get("html_url", ""),
        )


class CommentList(Page, kw_only=True):
    items: list[Comment] = []
    trust: TrustLabel = trust_label("items[].body")

    def render(self) -> str:
        lines: list[str] = []
        for c in self.items:
            lines += [f"--- {c.author} at {c.created_at} (id {c.id}):", c.body]
        return labelled_text(
            [*(lines or ["No comments."]), self.footer()], source="comments", trust=self.trust
        )
