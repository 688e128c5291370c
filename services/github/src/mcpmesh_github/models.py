"""What tools return: compact Structs (structuredContent) that also render as short text.

Everything a third party wrote goes through :mod:`mcpmesh.guard.sanitize` when these are
built (see the ``from_api`` constructors), and results holding such text carry a
:class:`~mcpmesh.guard.sanitize.TrustLabel`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mcpmesh.guard.sanitize import (
    UNTRUSTED_NOTICE,
    TrustLabel,
    sanitize_plain,
    sanitize_text,
    strip_invisible,
    trust_label,
    untrusted_block,
)


def _login(user: Any) -> str | None:
    return strip_invisible(user.get("login") or "") or None if isinstance(user, dict) else None


def _first_line(text: str, limit: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def truncate(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[:limit], True


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


# ---------------------------------------------------------------- context


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


# ---------------------------------------------------------------- repos


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
        desc = f" — {_first_line(self.description)}" if self.description else ""
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
            author=_login(d.get("author")),
            author_name=sanitize_text(git_author.get("name")) or None,
            date=git_author.get("date"),
            html_url=d.get("html_url", ""),
        )

    def line(self) -> str:
        who = self.author or self.author_name or "unknown"
        return f"{self.sha[:12]} {self.date} {who}: {_first_line(self.message)}"


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
            author=_login(d.get("author")),
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


# ---------------------------------------------------------------- issues and PRs


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
            author=_login(d.get("user")),
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
            author=_login(d.get("user")),
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
            "author": _login(d.get("user")),
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


# ---------------------------------------------------------------- search


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


# ---------------------------------------------------------------- actions


class Job(msgspec.Struct, kw_only=True):
    id: int
    name: str
    status: str
    conclusion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None


class WorkflowRun(msgspec.Struct, kw_only=True):
    id: int
    name: str
    title: str
    status: str | None
    conclusion: str | None
    event: str
    head_branch: str | None
    head_sha: str
    run_number: int
    created_at: str | None = None
    html_url: str = ""
    jobs: list[Job] = []

    @classmethod
    def from_api(cls, d: dict[str, Any]) -> WorkflowRun:
        return cls(
            id=int(d.get("id") or 0),
            name=sanitize_text(d.get("name")),
            title=sanitize_text(d.get("display_title")),
            status=d.get("status"),
            conclusion=d.get("conclusion"),
            event=d.get("event", ""),
            head_branch=strip_invisible(d.get("head_branch") or "") or None,
            head_sha=d.get("head_sha", ""),
            run_number=int(d.get("run_number") or 0),
            created_at=d.get("created_at"),
            html_url=d.get("html_url", ""),
        )

    def line(self) -> str:
        return (
            f"run {self.id} #{self.run_number} {self.name}: {self.title} "
            f"[{self.status}/{self.conclusion}] {self.event} on {self.head_branch}"
        )


class WorkflowRunList(Page, kw_only=True):
    total_count: int | None = None
    items: list[WorkflowRun] = []
    trust: TrustLabel = trust_label("items[].title")

    def render(self) -> str:
        lines = [r.line() for r in self.items] or ["No workflow runs."]
        return labelled_text([*lines, self.footer()], source="workflow runs", trust=self.trust)


class WorkflowRunDetail(WorkflowRun, kw_only=True):
    trust: TrustLabel = trust_label("title")

    def render(self) -> str:
        lines = [self.line(), self.html_url]
        lines += [f"job {j.id} {j.name} [{j.status}/{j.conclusion}]" for j in self.jobs]
        return labelled_text(lines, source=f"workflow run {self.id}", trust=self.trust)


class JobLog(msgspec.Struct, kw_only=True):
    job_id: int
    #: The last lines of the log (sanitized: invisible characters and ANSI escapes removed).
    tail: str
    lines: int
    #: Earlier lines were left out (only the tail is returned).
    truncated: bool
    total_bytes: int
    trust: TrustLabel = trust_label("tail")

    def render(self) -> str:
        head = f"Last {self.lines} lines of job {self.job_id}'s log"
        if self.truncated:
            head += f" (truncated: the log has {self.total_bytes} bytes; earlier lines left out)"
        return labelled_text(
            [head + ":", self.tail], source=f"job {self.job_id} log", trust=self.trust
        )
