"""The shapes of GitHub's answers that tools read directly (field by field, typed).

Only the fields used are declared; GitHub sends many more, which msgspec ignores. The
item lists of list and search answers stay plain objects: the result models
(:mod:`mcpmesh_github.models`) map and sanitize each item.
"""

from __future__ import annotations

from typing import Any

import msgspec

Item = dict[str, Any]


class _Wire(msgspec.Struct, kw_only=True):
    pass


class Sha(_Wire):
    sha: str = ""
    html_url: str | None = None


class GitRef(_Wire):
    ref: str | None = None
    object: Sha = msgspec.field(default_factory=Sha)


class GitCommit(_Wire):
    sha: str = ""
    html_url: str | None = None
    tree: Sha = msgspec.field(default_factory=Sha)


class ContentWritten(_Wire):
    commit: Sha = msgspec.field(default_factory=Sha)


class RepositoryFacts(_Wire):
    default_branch: str = "main"
    #: Unknown visibility counts as private: lockdown then does not apply.
    private: bool = True


class Permission(_Wire):
    permission: str | None = None
    role_name: str | None = None


class Created(_Wire):
    """An issue, pull request, comment or review just written."""

    number: int | None = None
    html_url: str | None = None


class Merged(_Wire):
    merged: bool = False
    message: str | None = None
    sha: str | None = None


class SearchPage(_Wire):
    total_count: int | None = None
    items: list[Item] = []


class WorkflowRuns(_Wire):
    total_count: int | None = None
    workflow_runs: list[Item] = []


class Jobs(_Wire):
    jobs: list[Item] = []


class Stats(_Wire):
    additions: int = 0
    deletions: int = 0


class Commit(_Wire):
    """A commit with its changes (GET /repos/{o}/{r}/commits/{ref})."""

    stats: Stats = msgspec.field(default_factory=Stats)
    files: list[Item] = []
