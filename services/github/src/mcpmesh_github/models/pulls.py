"""Results of the pull_requests toolset: pull requests, diffs, reviews, merges."""

from __future__ import annotations

from typing import Any

import msgspec

from mcpmesh.guard.sanitize import (
    TrustLabel,
    sanitize_text,
    strip_invisible,
    trust_label,
)
from mcpmesh_github.models.common import (
    Page,
    labelled_text,
    login_of,
    truncate,
)
from mcpmesh_github.models.repos import FileChange


class PullSummary(msgspec.Struct, kw_only=True):
    number: int
    title: str
    state: str
    draft: bool = False
    author: str | None = None
    head: str = ""
    base: str = ""
    created_at: str | None = None
    updated_at: str | None = None
    html_url: str = ""

    @classmethod
    def fields_from(cls, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "number": int(d.get("number") or 0),
            "title": sanitize_text(d.get("title")),
            "state": "merged" if d.get("merged_at") else d.get("state", ""),
            "draft": bool(d.get("draft")),
            "author": login_of(d.get("user")),
            "head": strip_invisible(str((d.get("head") or {}).get("label") or "")),
            "base": strip_invisible(str((d.get("base") or {}).get("ref") or "")),
            "created_at": d.get("created_at"),
            "updated_at": d.get("updated_at"),
            "html_url": d.get("html_url", ""),
        }

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> PullSummary:
        return cls(**cls.fields_from(d))

    def line(self) -> str:
        draft = " draft" if self.draft else ""
        return f"#{self.number} ({self.state}{draft}) {self.title} — {self.author}: {self.head} → {self.base}"


class PullList(Page, kw_only=True):
    items: list[PullSummary] = []
    trust: TrustLabel = trust_label("items[].title")

    def render(self) -> str:
        lines = [p.line() for p in self.items] or ["No pull requests."]
        return labelled_text([*lines, self.footer()], source="pull requests", trust=self.trust)


class PullDetail(PullSummary, kw_only=True):
    body: str = ""
    merged: bool = False
    mergeable: bool | None = None
    mergeable_state: str | None = None
    head_sha: str = ""
    additions: int = 0
    deletions: int = 0
    changed_files: int = 0
    commits: int = 0
    comments: int = 0
    trust: TrustLabel = trust_label("title", "body")

    @classmethod
    def from_api(cls, d: dict[str, Any], limit: int = 60_000) -> PullDetail:
        body, cut = truncate(sanitize_text(d.get("body")), limit)
        return cls(
            **cls.fields_from(d),
            body=body + ("\n[body truncated]" if cut else ""),
            merged=bool(d.get("merged")),
            mergeable=d.get("mergeable"),
            mergeable_state=d.get("mergeable_state"),
            head_sha=str((d.get("head") or {}).get("sha") or ""),
            additions=int(d.get("additions") or 0),
            deletions=int(d.get("deletions") or 0),
            changed_files=int(d.get("changed_files") or 0),
            commits=int(d.get("commits") or 0),
            comments=int(d.get("comments") or 0),
        )

    def render(self) -> str:
        lines = [
            self.line(),
            f"+{self.additions} -{self.deletions} in {self.changed_files} files, "
            f"{self.commits} commits, mergeable: {self.mergeable} ({self.mergeable_state})",
            self.html_url,
            "",
            self.body,
        ]
        return labelled_text(lines, source=f"pull request #{self.number}", trust=self.trust)


class PullDiff(msgspec.Struct, kw_only=True):
    number: int
    diff: str
    truncated: bool = False
    total_chars: int = 0
    trust: TrustLabel = trust_label("diff")

    def render(self) -> str:
        lines = [self.diff]
        if self.truncated:
            lines.append(
                f"[diff truncated: {len(self.diff)} of {self.total_chars} characters shown; "
                "use get_pull_request_files for per-file patches]"
            )
        return labelled_text(lines, source=f"diff of #{self.number}", trust=self.trust)


class FileChangeList(Page, kw_only=True):
    items: list[FileChange] = []
    trust: TrustLabel = trust_label("items[].patch")

    def render(self) -> str:
        lines: list[str] = []
        for change in self.items:
            lines += change.lines()
        return labelled_text(
            [*(lines or ["No files."]), self.footer()], source="changed files", trust=self.trust
        )


class Review(msgspec.Struct, kw_only=True):
    id: int
    author: str | None
    state: str
    body: str = ""
    submitted_at: str | None = None
    html_url: str = ""


class ReviewList(Page, kw_only=True):
    items: list[Review] = []
    trust: TrustLabel = trust_label("items[].body")

    def render(self) -> str:
        lines: list[str] = []
        for r in self.items:
            lines += [f"--- {r.author} {r.state} at {r.submitted_at} (id {r.id})", r.body]
        return labelled_text(
            [*(lines or ["No reviews."]), self.footer()], source="reviews", trust=self.trust
        )


class MergeResult(msgspec.Struct, kw_only=True):
    merged: bool
    message: str
    sha: str | None = None

    def render(self) -> str:
        return (
            f"{'Merged' if self.merged else 'Not merged'}: {self.message} {self.sha or ''}".strip()
        )
