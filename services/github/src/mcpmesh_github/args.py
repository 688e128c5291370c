"""Tool arguments: msgspec Structs, from which the library derives each ``inputSchema``."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Owner = Annotated[str, msgspec.Meta(description="Repository owner (user or organization)")]
RepoName = Annotated[str, msgspec.Meta(description="Repository name")]
Number = Annotated[int, msgspec.Meta(ge=1, description="Issue or pull request number")]
PageNo = Annotated[int, msgspec.Meta(ge=1, description="Page number, 1 for the first")]
PerPage = Annotated[int, msgspec.Meta(ge=1, le=100, description="Items per page (at most 100)")]
Query = Annotated[
    str, msgspec.Meta(min_length=1, max_length=256, description="GitHub search query")
]
Text = Annotated[str, msgspec.Meta(max_length=65536)]


class _Args(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class NoArgs(_Args, kw_only=True):
    pass


class _Paged(_Args, kw_only=True):
    page: PageNo = 1
    per_page: PerPage = 30


class RepoRef(_Args, kw_only=True):
    owner: Owner
    repo: RepoName


class RepoPaged(RepoRef, kw_only=True):
    page: PageNo = 1
    per_page: PerPage = 30


class SearchArgs(_Paged, kw_only=True):
    query: Query
    sort: str | None = None
    order: Literal["asc", "desc"] | None = None


class FileArgs(RepoRef, kw_only=True):
    path: Annotated[str, msgspec.Meta(description="File or directory path; '' for the root")] = ""
    ref: Annotated[str | None, msgspec.Meta(description="Branch, tag or commit SHA")] = None


class ListCommits(RepoPaged, kw_only=True):
    sha: Annotated[str | None, msgspec.Meta(description="Branch or SHA to start from")] = None
    path: Annotated[str | None, msgspec.Meta(description="Only commits touching this path")] = None
    author: Annotated[str | None, msgspec.Meta(description="GitHub login or email")] = None


class CommitArgs(RepoRef, kw_only=True):
    sha: Annotated[str, msgspec.Meta(description="Commit SHA, branch or tag")]


class ListIssues(RepoPaged, kw_only=True):
    state: Literal["open", "closed", "all"] = "open"
    labels: Annotated[list[str], msgspec.Meta(description="Only issues with all these labels")] = []
    sort: Literal["created", "updated", "comments"] = "created"
    direction: Literal["asc", "desc"] = "desc"
    since: Annotated[str | None, msgspec.Meta(description="ISO 8601 timestamp")] = None


class IssueArgs(RepoRef, kw_only=True):
    issue_number: Number


class IssueCommentsArgs(IssueArgs, kw_only=True):
    page: PageNo = 1
    per_page: PerPage = 30


class ListPulls(RepoPaged, kw_only=True):
    state: Literal["open", "closed", "all"] = "open"
    head: Annotated[str | None, msgspec.Meta(description="user:branch")] = None
    base: str | None = None
    sort: Literal["created", "updated", "popularity", "long-running"] = "created"
    direction: Literal["asc", "desc"] = "desc"


class PullArgs(RepoRef, kw_only=True):
    pull_number: Number


class PullPagedArgs(PullArgs, kw_only=True):
    page: PageNo = 1
    per_page: PerPage = 30


class ListRuns(RepoPaged, kw_only=True):
    branch: str | None = None
    status: (
        Literal[
            "completed",
            "action_required",
            "cancelled",
            "failure",
            "neutral",
            "skipped",
            "stale",
            "success",
            "timed_out",
            "in_progress",
            "queued",
            "requested",
            "waiting",
            "pending",
        ]
        | None
    ) = None
    event: str | None = None


class RunArgs(RepoRef, kw_only=True):
    run_id: Annotated[int, msgspec.Meta(ge=1)]


class JobLogArgs(RepoRef, kw_only=True):
    job_id: Annotated[int, msgspec.Meta(ge=1)]
    tail_lines: Annotated[int, msgspec.Meta(ge=1, le=5000, description="Lines from the end")] = 200


# ---------------------------------------------------------------- writes


class CreateBranch(RepoRef, kw_only=True):
    branch: Annotated[str, msgspec.Meta(description="New branch name")]
    from_branch: Annotated[
        str | None, msgspec.Meta(description="Source branch (default: the repository's)")
    ] = None


class FileWrite(RepoRef, kw_only=True):
    path: str
    content: Annotated[Text, msgspec.Meta(description="New UTF-8 content of the file")]
    message: Annotated[str, msgspec.Meta(min_length=1, description="Commit message")]
    branch: str
    sha: Annotated[
        str | None, msgspec.Meta(description="Blob SHA of the file being replaced (updates)")
    ] = None


class PushFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    path: str
    content: Text


class PushFiles(RepoRef, kw_only=True):
    branch: str
    files: Annotated[list[PushFile], msgspec.Meta(min_length=1, max_length=100)]
    message: Annotated[str, msgspec.Meta(min_length=1)]


class CreateIssue(RepoRef, kw_only=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    body: Text | None = None
    labels: list[str] = []
    assignees: list[str] = []


class UpdateIssue(IssueArgs, kw_only=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    body: Text | None = None
    state: Literal["open", "closed"] | None = None
    labels: list[str] | None = None
    assignees: list[str] | None = None


class AddComment(IssueArgs, kw_only=True):
    body: Annotated[Text, msgspec.Meta(min_length=1)]


class CreatePull(RepoRef, kw_only=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    head: Annotated[str, msgspec.Meta(description="Branch with the changes (or user:branch)")]
    base: Annotated[str, msgspec.Meta(description="Branch to merge into")]
    body: Text | None = None
    draft: bool = False


class CreateReview(PullArgs, kw_only=True):
    event: Literal["APPROVE", "REQUEST_CHANGES", "COMMENT"]
    body: Text | None = None
    commit_id: str | None = None


class MergePull(PullArgs, kw_only=True):
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    commit_title: str | None = None
    commit_message: Text | None = None
    sha: Annotated[str | None, msgspec.Meta(description="Merge only if the head is this SHA")] = (
        None
    )
