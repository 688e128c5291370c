"""The repos toolset: repositories, files, branches, commits, releases (and writes)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from mcpmesh import ToolError
from mcpmesh.guard.sanitize import sanitize_plain, strip_invisible
from mcpmesh_github import args as a
from mcpmesh_github import wire
from mcpmesh_github.api import READ_CONTENTS, WRITE_CONTENTS, GitHub
from mcpmesh_github.models import repos as m
from mcpmesh_github.models.common import WriteResult, fields_of, truncate
from mcpmesh_github.registry import github_tool
from mcpmesh_github.safety import Repo, check_path, check_ref


@github_tool("repos")
async def search_repositories(gh: GitHub, args: a.SearchArgs) -> m.RepoList:
    """Search repositories (GitHub search syntax); results outside the allowlist are dropped."""
    page = gh.page(args)
    query = {"q": args.query, "sort": args.sort, "order": args.order}
    response = await gh.get(
        "/search/repositories", permissions=READ_CONTENTS, params=page.params | query
    )
    found = response.decoded(wire.SearchPage)
    allowed = [r for r in found.items if gh.allows(r.get("full_name", ""))]
    return m.RepoList(
        **page.of(response),
        filtered_out=len(found.items) - len(allowed),
        total_count=found.total_count,
        items=[m.RepoSummary.from_api(r) for r in allowed],
    )


@github_tool("repos")
async def get_repository(gh: GitHub, args: a.RepoRef) -> m.RepoDetail:
    """A repository's description, default branch, visibility and counts."""
    repo = gh.repo
    response = await gh.get(repo.path(), permissions={})
    return m.RepoDetail.from_api(response.decoded(wire.Item))


@github_tool("repos")
async def get_file_contents(gh: GitHub, args: a.FileArgs) -> m.FileContents:
    """A file's text or a directory's entries, at a branch, tag or commit."""
    repo = gh.repo
    path = check_path(args.path)
    ref = check_ref(args.ref) if args.ref else None
    response = await gh.get(
        repo.path(f"/contents/{quote(path)}" if path else "/contents/"),
        permissions=READ_CONTENTS,
        params={"ref": ref},
        what=f"{repo.full_name}:{path or '/'}",
    )
    if isinstance(response.data, list):
        entries = [
            m.DirEntry(
                name=strip_invisible(e.get("name", "")),
                path=strip_invisible(e.get("path", "")),
                type=e.get("type", ""),
                size=int(e.get("size") or 0),
            )
            for e in response.decoded(list[wire.Item])
        ]
        return m.FileContents(
            repository=repo.full_name, path=path, ref=ref, type="dir", entries=entries
        )
    data = response.decoded(wire.Item)
    if data.get("type") != "file":
        raise ToolError(
            f"{repo.full_name}:{path} is a {data.get('type')}, not a file or directory."
        )
    return _file_contents(gh, repo, path, ref, data)


def _file_contents(
    gh: GitHub, repo: Repo, path: str, ref: str | None, data: wire.Item
) -> m.FileContents:
    size = int(data.get("size") or 0)
    raw = data.get("content") or ""
    if data.get("encoding") == "base64":
        try:
            blob = base64.b64decode(raw)
        except ValueError:
            blob = b""
    else:
        blob = raw.encode()
    if not blob and size:
        raise ToolError(
            f"{repo.full_name}:{path} is {size} bytes, too large for the contents API; "
            "read it in a clone instead."
        )
    found: dict[str, Any] = {"repository": repo.full_name, "path": path, "ref": ref, "type": "file"}
    found |= {"sha": data.get("sha"), "size": size}
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        return m.FileContents(**found, binary=True)
    content, cut = truncate(sanitize_plain(text), gh.settings.max_text_chars)
    return m.FileContents(**found, content=content, truncated=cut)


@github_tool("repos")
async def list_branches(gh: GitHub, args: a.RepoPaged) -> m.BranchList:
    """Branches of a repository with their head commit."""
    repo, page = gh.repo, gh.page(args)
    response = await gh.get(repo.path("/branches"), permissions=READ_CONTENTS, params=page.params)
    items = [
        m.Branch(
            name=strip_invisible(b.get("name", "")),
            sha=(b.get("commit") or {}).get("sha", ""),
            protected=bool(b.get("protected")),
        )
        for b in response.decoded(list[wire.Item])
    ]
    return m.BranchList(**page.of(response), items=items)


@github_tool("repos")
async def list_commits(gh: GitHub, args: a.ListCommits) -> m.CommitList:
    """Commits of a branch (or touching a path), newest first."""
    repo, page = gh.repo, gh.page(args)
    query = {
        "sha": check_ref(args.sha) if args.sha else None,
        "author": args.author,
        "path": check_path(args.path) if args.path else None,
    }
    response = await gh.get(
        repo.path("/commits"), permissions=READ_CONTENTS, params=page.params | query
    )
    items = [m.CommitSummary.from_api(c) for c in response.decoded(list[wire.Item])]
    return m.CommitList(**page.of(response), items=items)


@github_tool("repos")
async def get_commit(gh: GitHub, args: a.CommitArgs) -> m.CommitDetail:
    """One commit with its changed files and patches (long patches truncated, and said so)."""
    repo = gh.repo
    ref = check_ref(args.sha, "commit")
    response = await gh.get(
        repo.path(f"/commits/{quote(ref)}"),
        permissions=READ_CONTENTS,
        params={"per_page": 100},
    )
    summary = m.CommitSummary.from_api(response.decoded(wire.Item))
    commit = response.decoded(wire.Commit)
    limit = gh.settings.max_patch_chars
    return m.CommitDetail(
        **fields_of(summary),
        additions=commit.stats.additions,
        deletions=commit.stats.deletions,
        files=[m.FileChange.from_api(f, limit) for f in commit.files],
        files_truncated=response.next_page is not None,
    )


@github_tool("repos")
async def list_releases(gh: GitHub, args: a.RepoPaged) -> m.ReleaseList:
    """Releases of a repository, newest first."""
    repo, page = gh.repo, gh.page(args)
    response = await gh.get(repo.path("/releases"), permissions=READ_CONTENTS, params=page.params)
    limit = gh.settings.max_patch_chars
    items = [m.Release.from_api(r, limit) for r in response.decoded(list[wire.Item])]
    return m.ReleaseList(**page.of(response), items=items)


# ---------------------------------------------------------------- writes


@github_tool("repos", write=True, destructive=False)
async def create_branch(gh: GitHub, args: a.CreateBranch) -> WriteResult:
    """Create a branch from another branch (default: the repository's default branch)."""
    repo = gh.repo
    branch = check_ref(args.branch, "branch")
    source = check_ref(args.from_branch, "branch") if args.from_branch else None
    if source is None:
        info = await gh.get(repo.path(), permissions={})
        source = info.decoded(wire.RepositoryFacts).default_branch
    sha = await _branch_sha(gh, repo, source)
    response = await gh.request(
        "POST",
        repo.path("/git/refs"),
        permissions=WRITE_CONTENTS,
        json={"ref": f"refs/heads/{branch}", "sha": sha},
        what=f"creating branch {branch}",
    )
    created = response.decoded(wire.GitRef)
    return WriteResult(action="created branch", repository=repo.full_name, ref=created.ref, sha=sha)


async def _branch_sha(gh: GitHub, repo: Repo, branch: str) -> str:
    response = await gh.get(
        repo.path(f"/git/ref/heads/{quote(branch)}"),
        permissions=WRITE_CONTENTS,
        what=f"branch {branch}",
    )
    return response.decoded(wire.GitRef).object.sha


@github_tool("repos", write=True, destructive=True)
async def create_or_update_file(gh: GitHub, args: a.FileWrite) -> WriteResult:
    """Create a file, or replace one (give its current blob `sha`), in one commit on a branch."""
    repo = gh.repo
    path = check_path(args.path)
    if not path:
        raise ToolError("path must name a file.")
    body = {
        "message": args.message,
        "content": base64.b64encode(args.content.encode()).decode(),
        "branch": check_ref(args.branch, "branch"),
    }
    if args.sha:
        body["sha"] = args.sha
    response = await gh.request(
        "PUT",
        repo.path(f"/contents/{quote(path)}"),
        permissions=WRITE_CONTENTS,
        json=body,
        what=f"writing {path}",
    )
    commit = response.decoded(wire.ContentWritten).commit
    return WriteResult(
        action="updated" if args.sha else "created",
        repository=repo.full_name,
        ref=f"{args.branch}:{path}",
        sha=commit.sha or None,
        html_url=commit.html_url,
    )


@github_tool("repos", write=True, destructive=True)
async def push_files(gh: GitHub, args: a.PushFiles) -> WriteResult:
    """Commit several files to a branch at once (one commit)."""
    repo = gh.repo
    branch = check_ref(args.branch, "branch")
    paths = [check_path(f.path) for f in args.files]
    if not all(paths) or len(set(paths)) != len(paths):
        raise ToolError("Every file needs a distinct, non-empty path.")
    head = await _branch_sha(gh, repo, branch)
    base = await gh.get(repo.path(f"/git/commits/{head}"), permissions=WRITE_CONTENTS)
    blobs = [
        {"path": p, "mode": "100644", "type": "blob", "content": f.content}
        for p, f in zip(paths, args.files, strict=True)
    ]
    tree = await gh.request(
        "POST",
        repo.path("/git/trees"),
        permissions=WRITE_CONTENTS,
        json={"base_tree": base.decoded(wire.GitCommit).tree.sha, "tree": blobs},
    )
    response = await gh.request(
        "POST",
        repo.path("/git/commits"),
        permissions=WRITE_CONTENTS,
        json={"message": args.message, "tree": tree.decoded(wire.Sha).sha, "parents": [head]},
    )
    commit = response.decoded(wire.GitCommit)
    await gh.request(
        "PATCH",
        repo.path(f"/git/refs/heads/{quote(branch)}"),
        permissions=WRITE_CONTENTS,
        json={"sha": commit.sha},
        what=f"moving {branch} to the new commit",
    )
    return WriteResult(
        action=f"pushed {len(paths)} files to",
        repository=repo.full_name,
        ref=branch,
        sha=commit.sha,
        html_url=commit.html_url,
    )
