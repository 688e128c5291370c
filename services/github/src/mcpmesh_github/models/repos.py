"""Results of the repos toolset: repositories, files, branches, commits, releases."""

from __future__ import annotations

from typing import Any

import msgspec

from mcpmesh.guard.sanitize import (
    TrustLabel,
    sanitize_plain,
    sanitize_text,
    strip_invisible,
    trust_label,
)
from mcpmesh_github.models.common import (
    Page,
    first_line,
    labelled_text,
    login_of,
    truncate,
)


class RepoSummary(msgspec.Struct, kw_only=True):
    full_name: str
    private: bool
    description: str = ""
    default_branch: str | None = None
    language: str | None = None
    stars: int = 0
    forks: int = 0
    open_issues: int = 0
    archived: bool = False
    html_url: str = ""
    updated_at: str | None = None

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> RepoSummary:
        return cls(
            full_name=d.get("full_name", ""),
            private=bool(d.get("private")),
            description=sanitize_text(d.get("description")),
            default_branch=d.get("default_branch"),
            language=d.get("language"),
            stars=int(d.get("stargazers_count") or 0),
            forks=int(d.get("forks_count") or 0),
            open_issues=int(d.get("open_issues_count") or 0),
            archived=bool(d.get("archived")),
            html_url=d.get("html_url", ""),
            updated_at=d.get("updated_at"),
        )

    def line(self) -> str:
        flags = "private" if self.private else "public"
        if self.archived:
            flags += ", archived"
        desc = f" — {first_line(self.description)}" if self.description else ""
        return f"{self.full_name} [{flags}] ★{self.stars}{desc}"


class RepoList(Page, kw_only=True):
    total_count: int | None = None
    items: list[RepoSummary] = []
    trust: TrustLabel = trust_label("items[].description")

    def render(self) -> str:
        lines = [r.line() for r in self.items] or ["No repositories."]
        return labelled_text([*lines, self.footer()], source="github search", trust=self.trust)


class RepoDetail(RepoSummary, kw_only=True):
    topics: list[str] = []
    visibility: str | None = None
    trust: TrustLabel = trust_label("description", "topics")

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> RepoDetail:
        base = msgspec.structs.asdict(RepoSummary.from_api(d))
        return cls(
            **base,
            topics=[strip_invisible(t) for t in d.get("topics") or []],
            visibility=d.get("visibility"),
        )

    def render(self) -> str:
        lines = [
            self.line(),
            f"default branch {self.default_branch}, language {self.language}, "
            f"{self.open_issues} open issues, {self.forks} forks, updated {self.updated_at}",
            self.html_url,
        ]
        if self.topics:
            lines.append("topics: " + ", ".join(self.topics))
        return labelled_text(lines, source=self.full_name, trust=self.trust)


class DirEntry(msgspec.Struct, kw_only=True):
    name: str
    path: str
    type: str
    size: int = 0


class FileContents(msgspec.Struct, kw_only=True):
    repository: str
    path: str
    ref: str | None = None
    type: str  # "file" or "dir"
    sha: str | None = None
    size: int | None = None
    #: Text of a file (UTF-8, sanitized), or None for a directory or a binary file.
    content: str | None = None
    truncated: bool = False
    binary: bool = False
    entries: list[DirEntry] = []
    trust: TrustLabel = trust_label("content", "entries[].name")

    def render(self) -> str:
        where = f"{self.repository}:{self.path or '/'}" + (f"@{self.ref}" if self.ref else "")
        if self.type == "dir":
            lines = [f"Directory {where} ({len(self.entries)} entries):"]
            lines += [
                f"{e.name}/" if e.type == "dir" else f"{e.name} ({e.size} B)" for e in self.entries
            ]
            return labelled_text(lines, source=where, trust=self.trust)
        if self.binary:
            return f"{where}: binary file of {self.size} bytes, not shown."
        lines = [f"File {where} ({self.size} B, sha {self.sha}):", self.content or ""]
        if self.truncated:
            lines.append(f"[truncated: only the first {len(self.content or '')} characters shown]")
        return labelled_text(lines, source=where, trust=self.trust)


class Branch(msgspec.Struct, kw_only=True):
    name: str
    sha: str
    protected: bool = False


class BranchList(Page, kw_only=True):
    items: list[Branch] = []

    def render(self) -> str:
        lines = [
            f"{b.name} {b.sha[:12]}{' (protected)' if b.protected else ''}" for b in self.items
        ]
        return "\n".join([*(lines or ["No branches."]), self.footer()])


class CommitSummary(msgspec.Struct, kw_only=True):
    sha: str
    message: str
    author: str | None = None
    author_name: str | None = None
    date: str | None = None
    html_url: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> CommitSummary:
        commit = d.get("commit") or {}
        git_author = commit.get("author") or {}
        return cls(
            sha=d.get("sha", ""),
            message=sanitize_text(commit.get("message")),
            author=login_of(d.get("author")),
            author_name=sanitize_text(git_author.get("name")) or None,
            date=git_author.get("date"),
            html_url=d.get("html_url", ""),
        )

    def line(self) -> str:
        who = self.author or self.author_name or "unknown"
        return f"{self.sha[:12]} {self.date} {who}: {first_line(self.message)}"


class CommitList(Page, kw_only=True):
    items: list[CommitSummary] = []
    trust: TrustLabel = trust_label("items[].message", "items[].author_name")

    def render(self) -> str:
        lines = [c.line() for c in self.items] or ["No commits."]
        return labelled_text([*lines, self.footer()], source="commits", trust=self.trust)


class FileChange(msgspec.Struct, kw_only=True):
    filename: str
    status: str
    additions: int = 0
    deletions: int = 0
    patch: str | None = None
    #: The patch was cut at MCPMESH_GH_MAX_PATCH_CHARS (or GitHub sent none: too large).
    patch_truncated: bool = False

    @classmethod
    def from_api(cls, d: dict[str, Any], limit: int) -> FileChange:
        patch = d.get("patch")
        truncated = False
        if patch is not None:
            patch, truncated = truncate(sanitize_plain(patch), limit)
        elif d.get("changes"):
            truncated = True  # GitHub omits patches of very large diffs
        return cls(
            filename=strip_invisible(d.get("filename", "")),
            status=d.get("status", ""),
            additions=int(d.get("additions") or 0),
            deletions=int(d.get("deletions") or 0),
            patch=patch,
            patch_truncated=truncated,
        )

    def lines(self) -> list[str]:
        out = [f"{self.status} {self.filename} (+{self.additions} -{self.deletions})"]
        if self.patch:
            out.append(self.patch)
        if self.patch_truncated:
            out.append(
                f"[patch of {self.filename} truncated"
                + (f" at {len(self.patch)} characters]" if self.patch else ": GitHub sent none]")
            )
        return out


class CommitDetail(CommitSummary, kw_only=True):
    additions: int = 0
    deletions: int = 0
    files: list[FileChange] = []
    #: More files changed than GitHub returned on this page.
    files_truncated: bool = False
    trust: TrustLabel = trust_label("message", "author_name", "files[].patch")

    def render(self) -> str:
        lines = [self.line(), f"+{self.additions} -{self.deletions}, {len(self.files)} files"]
        for change in self.files:
            lines += change.lines()
        if self.files_truncated:
            lines.append("[more files changed than shown]")
        return labelled_text(lines, source=f"commit {self.sha[:12]}", trust=self.trust)


class Release(msgspec.Struct, kw_only=True):
    tag_name: str
    name: str = ""
    author: str | None = None
    draft: bool = False
    prerelease: bool = False
    published_at: str | None = None
    html_url: str = ""
    body: str = ""

    @classmethod
    def from_api(cls, d: dict[str, Any], limit: int) -> Release:
        body, _ = truncate(sanitize_text(d.get("body")), limit)
        return cls(
            tag_name=strip_invisible(d.get("tag_name", "")),
            name=sanitize_text(d.get("name")),
            author=login_of(d.get("author")),
            draft=bool(d.get("draft")),
            prerelease=bool(d.get("prerelease")),
            published_at=d.get("published_at"),
            html_url=d.get("html_url", ""),
            body=body,
        )


class ReleaseList(Page, kw_only=True):
    items: list[Release] = []
    trust: TrustLabel = trust_label("items[].name", "items[].body")

    def render(self) -> str:
        lines = [
            f"{r.tag_name} {r.name!r} by {r.author} {r.published_at}"
            + (" (draft)" if r.draft else "")
            + (" (prerelease)" if r.prerelease else "")
            for r in self.items
        ]
        return labelled_text(
            [*(lines or ["No releases."]), self.footer()], source="releases", trust=self.trust
        )
