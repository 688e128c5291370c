"""Results of the actions toolset: workflow runs, jobs and their logs."""

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
)


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
