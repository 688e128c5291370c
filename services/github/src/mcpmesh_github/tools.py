"""The tools. Each one: validate names → allowlist → narrow credential → request →
sanitize and label → compact Struct plus short text.

Docstrings are the tool descriptions the model reads: kept short (context bloat is a
known complaint about GitHub's own server).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from mcpmesh import Context, TextContent, ToolError, ToolResult
from mcpmesh.guard.sanitize import sanitize_plain, sanitize_text, strip_invisible
from mcpmesh_github import args as a
from mcpmesh_github import models as m
from mcpmesh_github.api import GitHub, Repo
from mcpmesh_github.registry import github_tool
from mcpmesh_github.safety import check_path, check_ref

READ_CONTENTS = {"contents": "read"}
WRITE_CONTENTS = {"contents": "write"}
READ_ISSUES = {"issues": "read"}
WRITE_ISSUES = {"issues": "write"}
READ_PULLS = {"pull_requests": "read"}
WRITE_PULLS = {"pull_requests": "write"}
READ_ACTIONS = {"actions": "read"}


def done(out: Any) -> ToolResult:
    return ToolResult(content=[TextContent(out.render())], structured=out)


def _repo_path(repo: Repo, suffix: str = "") -> str:
    return f"/repos/{repo[0]}/{repo[1]}{suffix}"


def _list(data: Any) -> list[dict[str, Any]]:
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


# ---------------------------------------------------------------- context


def _wrote(
    action: str, repo: tuple[str, str], response: Any, number: int | None = None
) -> ToolResult:
    """The answer of a write that opened, changed or commented on an issue or pull request."""
    data = response.data or {}
    return done(
        m.WriteResult(
            action=action,
            repository=f"{repo[0]}/{repo[1]}",
            number=number if number is not None else data.get("number"),
            html_url=data.get("html_url"),
        )
    )


@github_tool("context", output=m.Me)
async def get_me(ctx: Context, args: a.NoArgs) -> ToolResult:
    """Who the service acts as on GitHub: the user of the token, or the GitHub App."""
    gh = GitHub.of(ctx)
    app = await gh.call_app(ctx, "/app")
    if app is not None:
        return done(m.Me.from_api(app.data or {}, "app"))
    response = await gh.call(ctx, "GET", "/user", repo=None, permissions={}, what="GET /user")
    return done(m.Me.from_api(response.data or {}, "user"))


# ---------------------------------------------------------------- repos


@github_tool("repos", output=m.RepoList)
async def search_repositories(ctx: Context, args: a.SearchArgs) -> ToolResult:
    """Search repositories (GitHub search syntax); results outside the allowlist are dropped."""
    gh = GitHub.of(ctx)
    params: dict[str, Any] = {"q": args.query, "sort": args.sort, "order": args.order}
    params |= gh.page_params(args.page, args.per_page)
    response = await gh.call(
        ctx, "GET", "/search/repositories", repo=None, permissions=READ_CONTENTS, params=params
    )
    data = response.data or {}
    items = _list(data.get("items"))
    allowed = [r for r in items if gh.allowlist.allows(r.get("full_name", ""))]
    return done(
        m.RepoList(
            page=params["page"],
            per_page=params["per_page"],
            next_page=response.next_page,
            filtered_out=len(items) - len(allowed),
            total_count=data.get("total_count"),
            items=[m.RepoSummary.from_api(r) for r in allowed],
        )
    )


@github_tool("repos", output=m.RepoDetail)
async def get_repository(ctx: Context, args: a.RepoRef) -> ToolResult:
    """A repository's description, default branch, visibility and counts."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    response = await gh.call(ctx, "GET", _repo_path(repo), repo=repo, permissions={})
    return done(m.RepoDetail.from_api(response.data or {}))


@github_tool("repos", output=m.FileContents)
async def get_file_contents(ctx: Context, args: a.FileArgs) -> ToolResult:
    """A file's text or a directory's entries, at a branch, tag or commit."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    path = check_path(args.path)
    ref = check_ref(args.ref) if args.ref else None
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/contents/{quote(path)}") if path else _repo_path(repo, "/contents/"),
        repo=repo,
        permissions=READ_CONTENTS,
        params={"ref": ref},
        what=f"{repo[0]}/{repo[1]}:{path or '/'}",
    )
    full_name = f"{repo[0]}/{repo[1]}"
    data = response.data
    if isinstance(data, list):
        entries = [
            m.DirEntry(
                name=strip_invisible(e.get("name", "")),
                path=strip_invisible(e.get("path", "")),
                type=e.get("type", ""),
                size=int(e.get("size") or 0),
            )
            for e in _list(data)
        ]
        return done(
            m.FileContents(repository=full_name, path=path, ref=ref, type="dir", entries=entries)
        )
    if not isinstance(data, dict) or data.get("type") != "file":
        kind = data.get("type") if isinstance(data, dict) else "unknown"
        raise ToolError(f"{full_name}:{path} is a {kind}, not a file or directory.")
    return done(_file_contents(gh, full_name, path, ref, data))


def _file_contents(
    gh: GitHub, full_name: str, path: str, ref: str | None, data: dict[str, Any]
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
            f"{full_name}:{path} is {size} bytes, too large for the contents API; "
            "read it in a clone instead."
        )
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        return m.FileContents(
            repository=full_name,
            path=path,
            ref=ref,
            type="file",
            sha=data.get("sha"),
            size=size,
            binary=True,
        )
    content, cut = m.truncate(sanitize_plain(text), gh.settings.max_text_chars)
    return m.FileContents(
        repository=full_name,
        path=path,
        ref=ref,
        type="file",
        sha=data.get("sha"),
        size=size,
        content=content,
        truncated=cut,
    )


@github_tool("repos", output=m.BranchList)
async def list_branches(ctx: Context, args: a._RepoPaged) -> ToolResult:
    """Branches of a repository with their head commit."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params = gh.page_params(args.page, args.per_page)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, "/branches"),
        repo=repo,
        permissions=READ_CONTENTS,
        params=params,
    )
    items = [
        m.Branch(
            name=strip_invisible(b.get("name", "")),
            sha=(b.get("commit") or {}).get("sha", ""),
            protected=bool(b.get("protected")),
        )
        for b in _list(response.data)
    ]
    return done(m.BranchList(**params, next_page=response.next_page, items=items))


@github_tool("repos", output=m.CommitList)
async def list_commits(ctx: Context, args: a.ListCommits) -> ToolResult:
    """Commits of a branch (or touching a path), newest first."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params: dict[str, Any] = gh.page_params(args.page, args.per_page)
    query = {"sha": check_ref(args.sha) if args.sha else None, "author": args.author}
    query["path"] = check_path(args.path) if args.path else None
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, "/commits"),
        repo=repo,
        permissions=READ_CONTENTS,
        params=params | query,
    )
    items = [m.CommitSummary.from_api(c) for c in _list(response.data)]
    return done(m.CommitList(**params, next_page=response.next_page, items=items))


@github_tool("repos", output=m.CommitDetail)
async def get_commit(ctx: Context, args: a.CommitArgs) -> ToolResult:
    """One commit with its changed files and patches (long patches truncated, and said so)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    ref = check_ref(args.sha, "commit")
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/commits/{quote(ref)}"),
        repo=repo,
        permissions=READ_CONTENTS,
        params={"per_page": 100},
    )
    data = response.data or {}
    summary = m.CommitSummary.from_api(data)
    stats = data.get("stats") or {}
    files = [
        m.FileChange.from_api(f, gh.settings.max_patch_chars) for f in _list(data.get("files"))
    ]
    return done(
        m.CommitDetail(
            **_fields(summary),
            additions=int(stats.get("additions") or 0),
            deletions=int(stats.get("deletions") or 0),
            files=files,
            files_truncated=response.next_page is not None,
        )
    )


def _fields(struct: Any) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


@github_tool("repos", output=m.ReleaseList)
async def list_releases(ctx: Context, args: a._RepoPaged) -> ToolResult:
    """Releases of a repository, newest first."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params = gh.page_params(args.page, args.per_page)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, "/releases"),
        repo=repo,
        permissions=READ_CONTENTS,
        params=params,
    )
    limit = gh.settings.max_patch_chars
    items = [m.Release.from_api(r, limit) for r in _list(response.data)]
    return done(m.ReleaseList(**params, next_page=response.next_page, items=items))


@github_tool("repos", output=m.WriteResult, write=True, destructive=False)
async def create_branch(ctx: Context, args: a.CreateBranch) -> ToolResult:
    """Create a branch from another branch (default: the repository's default branch)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    branch = check_ref(args.branch, "branch")
    source = check_ref(args.from_branch, "branch") if args.from_branch else None
    if source is None:
        info = await gh.call(ctx, "GET", _repo_path(repo), repo=repo, permissions={})
        source = str((info.data or {}).get("default_branch") or "main")
    sha = await _branch_sha(ctx, gh, repo, source, WRITE_CONTENTS)
    response = await gh.call(
        ctx,
        "POST",
        _repo_path(repo, "/git/refs"),
        repo=repo,
        permissions=WRITE_CONTENTS,
        json={"ref": f"refs/heads/{branch}", "sha": sha},
        what=f"creating branch {branch}",
    )
    return done(
        m.WriteResult(
            action="created branch",
            repository=f"{repo[0]}/{repo[1]}",
            ref=(response.data or {}).get("ref"),
            sha=sha,
        )
    )


async def _branch_sha(
    ctx: Context, gh: GitHub, repo: Repo, branch: str, permissions: dict[str, str]
) -> str:
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/git/ref/heads/{quote(branch)}"),
        repo=repo,
        permissions=permissions,
        what=f"branch {branch}",
    )
    return str(((response.data or {}).get("object") or {}).get("sha") or "")


@github_tool("repos", output=m.WriteResult, write=True, destructive=True)
async def create_or_update_file(ctx: Context, args: a.FileWrite) -> ToolResult:
    """Create a file, or replace one (give its current blob `sha`), in one commit on a branch."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    path = check_path(args.path)
    if not path:
        raise ToolError("path must name a file.")
    body: dict[str, Any] = {
        "message": args.message,
        "content": base64.b64encode(args.content.encode()).decode(),
        "branch": check_ref(args.branch, "branch"),
    }
    if args.sha:
        body["sha"] = args.sha
    response = await gh.call(
        ctx,
        "PUT",
        _repo_path(repo, f"/contents/{quote(path)}"),
        repo=repo,
        permissions=WRITE_CONTENTS,
        json=body,
        what=f"writing {path}",
    )
    commit = (response.data or {}).get("commit") or {}
    return done(
        m.WriteResult(
            action="updated" if args.sha else "created",
            repository=f"{repo[0]}/{repo[1]}",
            ref=f"{args.branch}:{path}",
            sha=commit.get("sha"),
            html_url=commit.get("html_url"),
        )
    )


@github_tool("repos", output=m.WriteResult, write=True, destructive=True)
async def push_files(ctx: Context, args: a.PushFiles) -> ToolResult:
    """Commit several files to a branch at once (one commit)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    branch = check_ref(args.branch, "branch")
    paths = [check_path(f.path) for f in args.files]
    if not all(paths) or len(set(paths)) != len(paths):
        raise ToolError("Every file needs a distinct, non-empty path.")
    head = await _branch_sha(ctx, gh, repo, branch, WRITE_CONTENTS)
    base = await gh.call(
        ctx, "GET", _repo_path(repo, f"/git/commits/{head}"), repo=repo, permissions=WRITE_CONTENTS
    )
    tree_sha = ((base.data or {}).get("tree") or {}).get("sha")
    tree = await gh.call(
        ctx,
        "POST",
        _repo_path(repo, "/git/trees"),
        repo=repo,
        permissions=WRITE_CONTENTS,
        json={
            "base_tree": tree_sha,
            "tree": [
                {"path": p, "mode": "100644", "type": "blob", "content": f.content}
                for p, f in zip(paths, args.files, strict=True)
            ],
        },
    )
    commit = await gh.call(
        ctx,
        "POST",
        _repo_path(repo, "/git/commits"),
        repo=repo,
        permissions=WRITE_CONTENTS,
        json={"message": args.message, "tree": (tree.data or {}).get("sha"), "parents": [head]},
    )
    new_sha = (commit.data or {}).get("sha")
    await gh.call(
        ctx,
        "PATCH",
        _repo_path(repo, f"/git/refs/heads/{quote(branch)}"),
        repo=repo,
        permissions=WRITE_CONTENTS,
        json={"sha": new_sha},
        what=f"moving {branch} to the new commit",
    )
    return done(
        m.WriteResult(
            action=f"pushed {len(paths)} files to",
            repository=f"{repo[0]}/{repo[1]}",
            ref=branch,
            sha=new_sha,
            html_url=(commit.data or {}).get("html_url"),
        )
    )


# ---------------------------------------------------------------- issues


async def _keep_trusted(
    ctx: Context, gh: GitHub, repo: Repo, items: list[dict[str, Any]], key: str = "user"
) -> tuple[list[dict[str, Any]], int]:
    kept = [i for i in items if not await gh.withhold(ctx, repo, _author(i, key))]
    return kept, len(items) - len(kept)


def _author(item: dict[str, Any], key: str = "user") -> str | None:
    user = item.get(key)
    return user.get("login") if isinstance(user, dict) else None


@github_tool("issues", output=m.IssueList)
async def list_issues(ctx: Context, args: a.ListIssues) -> ToolResult:
    """Issues of a repository (pull requests left out)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params: dict[str, Any] = gh.page_params(args.page, args.per_page)
    query = {
        "state": args.state,
        "labels": ",".join(args.labels) or None,
        "sort": args.sort,
        "direction": args.direction,
        "since": args.since,
    }
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, "/issues"),
        repo=repo,
        permissions=READ_ISSUES,
        params=params | query,
    )
    issues = [i for i in _list(response.data) if "pull_request" not in i]
    kept, withheld = await _keep_trusted(ctx, gh, repo, issues)
    return done(
        m.IssueList(
            **params,
            next_page=response.next_page,
            withheld=withheld,
            items=[m.IssueSummary.from_api(i) for i in kept],
        )
    )


@github_tool("issues", output=m.IssueDetail)
async def get_issue(ctx: Context, args: a.IssueArgs) -> ToolResult:
    """One issue with its body."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/issues/{args.issue_number}"),
        repo=repo,
        permissions=READ_ISSUES,
        what=f"issue #{args.issue_number}",
    )
    data = response.data or {}
    await _refuse_untrusted(ctx, gh, repo, data, f"Issue #{args.issue_number}")
    body, cut = m.truncate(sanitize_text(data.get("body")), gh.settings.max_text_chars)
    summary = m.IssueSummary.from_api(data)
    return done(
        m.IssueDetail(
            **_fields(summary),
            body=body,
            body_truncated=cut,
            assignees=[strip_invisible(u.get("login", "")) for u in _list(data.get("assignees"))],
            closed_at=data.get("closed_at"),
        )
    )


async def _refuse_untrusted(
    ctx: Context, gh: GitHub, repo: Repo, data: dict[str, Any], what: str
) -> None:
    author = _author(data)
    if await gh.withhold(ctx, repo, author):
        raise ToolError(
            f"{what} in public repository {repo[0]}/{repo[1]} was written by {author}, who has "
            "no push access; lockdown mode (MCPMESH_GH_LOCKDOWN) withholds its content."
        )


@github_tool("issues", output=m.CommentList)
async def get_issue_comments(ctx: Context, args: a.IssueCommentsArgs) -> ToolResult:
    """Comments on an issue or pull request, oldest first."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params = gh.page_params(args.page, args.per_page)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/issues/{args.issue_number}/comments"),
        repo=repo,
        permissions=READ_ISSUES,
        params=params,
    )
    kept, withheld = await _keep_trusted(ctx, gh, repo, _list(response.data))
    limit = gh.settings.max_text_chars
    return done(
        m.CommentList(
            **params,
            next_page=response.next_page,
            withheld=withheld,
            items=[m.Comment.from_api(c, limit) for c in kept],
        )
    )


@github_tool("issues", output=m.IssueList)
async def search_issues(ctx: Context, args: a.SearchArgs) -> ToolResult:
    """Search issues and pull requests (GitHub search syntax); only allowlisted repositories."""
    gh = GitHub.of(ctx)
    params: dict[str, Any] = gh.page_params(args.page, args.per_page)
    query = {"q": args.query, "sort": args.sort, "order": args.order}
    response = await gh.call(
        ctx, "GET", "/search/issues", repo=None, permissions=READ_ISSUES, params=params | query
    )
    data = response.data or {}
    items = _list(data.get("items"))
    allowed = [i for i in items if gh.allowlist.allows(_repo_of(i))]
    kept: list[dict[str, Any]] = []
    for item in allowed:
        owner, _, name = _repo_of(item).partition("/")
        if not await gh.withhold(ctx, (owner, name), _author(item)):
            kept.append(item)
    return done(
        m.IssueList(
            **params,
            next_page=response.next_page,
            filtered_out=len(items) - len(allowed),
            withheld=len(allowed) - len(kept),
            total_count=data.get("total_count"),
            items=[m.IssueSummary.from_api(i) for i in kept],
        )
    )


def _repo_of(item: dict[str, Any]) -> str:
    url = str(item.get("repository_url") or "")
    return "/".join(url.rstrip("/").split("/")[-2:])


@github_tool("issues", output=m.WriteResult, write=True, destructive=False)
async def create_issue(ctx: Context, args: a.CreateIssue) -> ToolResult:
    """Open an issue."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    body: dict[str, Any] = {"title": args.title, "body": args.body}
    if args.labels:
        body["labels"] = args.labels
    if args.assignees:
        body["assignees"] = args.assignees
    response = await gh.call(
        ctx, "POST", _repo_path(repo, "/issues"), repo=repo, permissions=WRITE_ISSUES, json=body
    )
    return _wrote("opened issue", repo, response)


@github_tool("issues", output=m.WriteResult, write=True, destructive=True)
async def update_issue(ctx: Context, args: a.UpdateIssue) -> ToolResult:
    """Change an issue's title, body, state, labels or assignees."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    fields = ("title", "body", "state", "labels", "assignees")
    body = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    if not body:
        raise ToolError("Nothing to change: give at least one of " + ", ".join(fields) + ".")
    response = await gh.call(
        ctx,
        "PATCH",
        _repo_path(repo, f"/issues/{args.issue_number}"),
        repo=repo,
        permissions=WRITE_ISSUES,
        json=body,
    )
    return _wrote("updated issue", repo, response)


@github_tool("issues", output=m.WriteResult, write=True, destructive=False)
async def add_issue_comment(ctx: Context, args: a.AddComment) -> ToolResult:
    """Comment on an issue or pull request."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    response = await gh.call(
        ctx,
        "POST",
        _repo_path(repo, f"/issues/{args.issue_number}/comments"),
        repo=repo,
        permissions=WRITE_ISSUES,
        json={"body": args.body},
    )
    return _wrote("commented on", repo, response, number=args.issue_number)


# ---------------------------------------------------------------- pull requests


@github_tool("pull_requests", output=m.PullList)
async def list_pull_requests(ctx: Context, args: a.ListPulls) -> ToolResult:
    """Pull requests of a repository."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params: dict[str, Any] = gh.page_params(args.page, args.per_page)
    query = {
        "state": args.state,
        "head": args.head,
        "base": args.base,
        "sort": args.sort,
        "direction": args.direction,
    }
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, "/pulls"),
        repo=repo,
        permissions=READ_PULLS,
        params=params | query,
    )
    kept, withheld = await _keep_trusted(ctx, gh, repo, _list(response.data))
    return done(
        m.PullList(
            **params,
            next_page=response.next_page,
            withheld=withheld,
            items=[m.PullSummary.from_api(p) for p in kept],
        )
    )


async def _pull(ctx: Context, gh: GitHub, repo: Repo, number: int) -> dict[str, Any]:
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/pulls/{number}"),
        repo=repo,
        permissions=READ_PULLS,
        what=f"pull request #{number}",
    )
    data = response.data or {}
    await _refuse_untrusted(ctx, gh, repo, data, f"Pull request #{number}")
    return data


@github_tool("pull_requests", output=m.PullDetail)
async def get_pull_request(ctx: Context, args: a.PullArgs) -> ToolResult:
    """One pull request: branches, state, mergeability, size and description."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    data = await _pull(ctx, gh, repo, args.pull_number)
    return done(m.PullDetail.from_api(data, gh.settings.max_text_chars))


@github_tool("pull_requests", output=m.PullDiff)
async def get_pull_request_diff(ctx: Context, args: a.PullArgs) -> ToolResult:
    """The unified diff of a pull request (truncated past a size cap, and said so)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    await _pull(ctx, gh, repo, args.pull_number)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/pulls/{args.pull_number}"),
        repo=repo,
        permissions=READ_PULLS,
        accept="application/vnd.github.diff",
        text=True,
    )
    diff = sanitize_plain(response.data if isinstance(response.data, str) else "")
    shown, cut = m.truncate(diff, gh.settings.max_text_chars)
    return done(
        m.PullDiff(number=args.pull_number, diff=shown, truncated=cut, total_chars=len(diff))
    )


@github_tool("pull_requests", output=m.FileChangeList)
async def get_pull_request_files(ctx: Context, args: a.PullPagedArgs) -> ToolResult:
    """Files a pull request changes, with per-file patches (long ones truncated)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    await _pull(ctx, gh, repo, args.pull_number)
    params = gh.page_params(args.page, args.per_page)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/pulls/{args.pull_number}/files"),
        repo=repo,
        permissions=READ_PULLS,
        params=params,
    )
    limit = gh.settings.max_patch_chars
    items = [m.FileChange.from_api(f, limit) for f in _list(response.data)]
    return done(m.FileChangeList(**params, next_page=response.next_page, items=items))


@github_tool("pull_requests", output=m.ReviewList)
async def get_pull_request_reviews(ctx: Context, args: a.PullPagedArgs) -> ToolResult:
    """Reviews of a pull request (approvals, change requests, comments)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params = gh.page_params(args.page, args.per_page)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/pulls/{args.pull_number}/reviews"),
        repo=repo,
        permissions=READ_PULLS,
        params=params,
    )
    kept, withheld = await _keep_trusted(ctx, gh, repo, _list(response.data))
    limit = gh.settings.max_text_chars
    items = [
        m.Review(
            id=int(r.get("id") or 0),
            author=_author(r),
            state=str(r.get("state") or ""),
            body=m.truncate(sanitize_text(r.get("body")), limit)[0],
            submitted_at=r.get("submitted_at"),
            html_url=r.get("html_url", ""),
        )
        for r in kept
    ]
    return done(
        m.ReviewList(**params, next_page=response.next_page, withheld=withheld, items=items)
    )


@github_tool("pull_requests", output=m.WriteResult, write=True, destructive=False)
async def create_pull_request(ctx: Context, args: a.CreatePull) -> ToolResult:
    """Open a pull request from `head` into `base`."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    head = args.head.split(":", 1)
    check_ref(head[-1], "branch")
    check_ref(args.base, "branch")
    response = await gh.call(
        ctx,
        "POST",
        _repo_path(repo, "/pulls"),
        repo=repo,
        permissions=WRITE_PULLS,
        json={
            "title": args.title,
            "head": args.head,
            "base": args.base,
            "body": args.body,
            "draft": args.draft,
        },
    )
    return _wrote("opened pull request", repo, response)


@github_tool("pull_requests", output=m.WriteResult, write=True, destructive=False)
async def create_pull_request_review(ctx: Context, args: a.CreateReview) -> ToolResult:
    """Submit a review: APPROVE, REQUEST_CHANGES (needs a body) or COMMENT."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    if args.event != "APPROVE" and not (args.body or "").strip():
        raise ToolError(f"A {args.event} review needs a body.")
    body: dict[str, Any] = {"event": args.event}
    if args.body:
        body["body"] = args.body
    if args.commit_id:
        body["commit_id"] = args.commit_id
    response = await gh.call(
        ctx,
        "POST",
        _repo_path(repo, f"/pulls/{args.pull_number}/reviews"),
        repo=repo,
        permissions=WRITE_PULLS,
        json=body,
    )
    return _wrote(f"reviewed ({args.event})", repo, response, number=args.pull_number)


@github_tool("pull_requests", output=m.MergeResult, write=True, destructive=True)
async def merge_pull_request(ctx: Context, args: a.MergePull) -> ToolResult:
    """Merge a pull request, after the user confirms it (elicitation)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    data = await _pull(ctx, gh, repo, args.pull_number)
    title = sanitize_text(data.get("title"))
    head = strip_invisible(str((data.get("head") or {}).get("label") or ""))
    base = strip_invisible(str((data.get("base") or {}).get("ref") or ""))
    question = (
        f"Merge pull request #{args.pull_number} of {repo[0]}/{repo[1]} ({args.merge_method}): "
        f"{head} into {base}? Title (untrusted): {title!r}"
    )
    await ctx.confirm(question)  # anything but an explicit yes ends the call here
    body: dict[str, Any] = {"merge_method": args.merge_method}
    for field in ("commit_title", "commit_message", "sha"):
        if getattr(args, field):
            body[field] = getattr(args, field)
    response = await gh.call(
        ctx,
        "PUT",
        _repo_path(repo, f"/pulls/{args.pull_number}/merge"),
        repo=repo,
        permissions=WRITE_CONTENTS | WRITE_PULLS,
        json=body,
        what=f"merging pull request #{args.pull_number}",
    )
    result = response.data or {}
    return done(
        m.MergeResult(
            merged=bool(result.get("merged")),
            message=sanitize_text(result.get("message")),
            sha=result.get("sha"),
        )
    )


# ---------------------------------------------------------------- search


@github_tool("search", output=m.CodeHitList)
async def search_code(ctx: Context, args: a.SearchArgs) -> ToolResult:
    """Search code (GitHub code search syntax); only allowlisted repositories are shown."""
    gh = GitHub.of(ctx)
    params: dict[str, Any] = gh.page_params(args.page, args.per_page)
    query = {"q": args.query, "sort": args.sort, "order": args.order}
    response = await gh.call(
        ctx, "GET", "/search/code", repo=None, permissions=READ_CONTENTS, params=params | query
    )
    data = response.data or {}
    items = _list(data.get("items"))
    hits = [
        m.CodeHit(
            repository=(i.get("repository") or {}).get("full_name", ""),
            path=strip_invisible(i.get("path", "")),
            name=strip_invisible(i.get("name", "")),
            sha=i.get("sha", ""),
            html_url=i.get("html_url", ""),
        )
        for i in items
    ]
    allowed = [h for h in hits if gh.allowlist.allows(h.repository)]
    return done(
        m.CodeHitList(
            **params,
            next_page=response.next_page,
            filtered_out=len(hits) - len(allowed),
            total_count=data.get("total_count"),
            items=allowed,
        )
    )


@github_tool("search", output=m.UserHitList)
async def search_users(ctx: Context, args: a.SearchArgs) -> ToolResult:
    """Search users and organizations by login, name or email."""
    gh = GitHub.of(ctx)
    params: dict[str, Any] = gh.page_params(args.page, args.per_page)
    query = {"q": args.query, "sort": args.sort, "order": args.order}
    response = await gh.call(
        ctx, "GET", "/search/users", repo=None, permissions={}, params=params | query
    )
    data = response.data or {}
    items = [
        m.UserHit(
            login=strip_invisible(u.get("login", "")),
            id=int(u.get("id") or 0),
            type=str(u.get("type") or ""),
            html_url=u.get("html_url", ""),
        )
        for u in _list(data.get("items"))
    ]
    return done(
        m.UserHitList(
            **params, next_page=response.next_page, total_count=data.get("total_count"), items=items
        )
    )


# ---------------------------------------------------------------- actions


@github_tool("actions", output=m.WorkflowRunList)
async def list_workflow_runs(ctx: Context, args: a.ListRuns) -> ToolResult:
    """GitHub Actions workflow runs of a repository, newest first."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    params: dict[str, Any] = gh.page_params(args.page, args.per_page)
    query = {"branch": args.branch, "status": args.status, "event": args.event}
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, "/actions/runs"),
        repo=repo,
        permissions=READ_ACTIONS,
        params=params | query,
    )
    data = response.data or {}
    items = [m.WorkflowRun.from_api(r) for r in _list(data.get("workflow_runs"))]
    return done(
        m.WorkflowRunList(
            **params, next_page=response.next_page, total_count=data.get("total_count"), items=items
        )
    )


@github_tool("actions", output=m.WorkflowRunDetail)
async def get_workflow_run(ctx: Context, args: a.RunArgs) -> ToolResult:
    """One workflow run with its jobs (use a job id with get_job_logs)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    run = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/actions/runs/{args.run_id}"),
        repo=repo,
        permissions=READ_ACTIONS,
    )
    jobs = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/actions/runs/{args.run_id}/jobs"),
        repo=repo,
        permissions=READ_ACTIONS,
        params={"per_page": 100},
    )
    summary = m.WorkflowRun.from_api(run.data or {})
    job_list = [
        m.Job(
            id=int(j.get("id") or 0),
            name=sanitize_text(j.get("name")),
            status=str(j.get("status") or ""),
            conclusion=j.get("conclusion"),
            started_at=j.get("started_at"),
            completed_at=j.get("completed_at"),
        )
        for j in _list((jobs.data or {}).get("jobs"))
    ]
    return done(m.WorkflowRunDetail(**(_fields(summary) | {"jobs": job_list})))


@github_tool("actions", output=m.JobLog)
async def get_job_logs(ctx: Context, args: a.JobLogArgs) -> ToolResult:
    """The last lines of a job's log (bounded; earlier lines are left out and said so)."""
    gh = GitHub.of(ctx)
    repo = gh.repo(args.owner, args.repo)
    response = await gh.call(
        ctx,
        "GET",
        _repo_path(repo, f"/actions/jobs/{args.job_id}/logs"),
        repo=repo,
        permissions=READ_ACTIONS,
        text=True,
        what=f"logs of job {args.job_id}",
    )
    location = response.headers.get("Location")
    if response.status != 302 or not location:
        raise ToolError(f"GitHub did not give a download link for job {args.job_id}'s logs.")
    tail, total = await gh.client.download_tail(location, max_bytes=gh.settings.max_log_bytes)
    lines = sanitize_plain(tail.decode("utf-8", errors="replace")).splitlines()
    if total > len(tail) and lines:
        lines = lines[1:]  # the first line of a cut-off tail is partial
    limit = min(args.tail_lines, gh.settings.max_log_lines)
    shown = lines[-limit:]
    truncated = len(shown) < len(lines) or total > len(tail)
    return done(
        m.JobLog(
            job_id=args.job_id,
            tail="\n".join(shown),
            lines=len(shown),
            truncated=truncated,
            total_bytes=total,
        )
    )
