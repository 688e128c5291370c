"""The issues toolset: issues, their comments, issue search (and writes)."""

from __future__ import annotations

from mcpmesh import ToolError
from mcpmesh.guard.sanitize import sanitize_text, strip_invisible
from mcpmesh_github import args as a
from mcpmesh_github import wire
from mcpmesh_github.api import READ_ISSUES, WRITE_ISSUES, GitHub, author_of
from mcpmesh_github.client import Response
from mcpmesh_github.models import issues as m
from mcpmesh_github.models.common import WriteResult, fields_of, truncate
from mcpmesh_github.registry import github_tool
from mcpmesh_github.safety import Repo


@github_tool("issues")
async def list_issues(gh: GitHub, args: a.ListIssues) -> m.IssueList:
    """Issues of a repository (pull requests left out)."""
    repo, page = gh.repo, gh.page(args)
    query = {
        "state": args.state,
        "labels": ",".join(args.labels) or None,
        "sort": args.sort,
        "direction": args.direction,
        "since": args.since,
    }
    response = await gh.get(
        repo.path("/issues"), permissions=READ_ISSUES, params=page.params | query
    )
    issues = [i for i in response.decoded(list[wire.Item]) if "pull_request" not in i]
    kept, withheld = await gh.keep_trusted(repo, issues)
    return m.IssueList(
        **page.of(response),
        withheld=withheld,
        items=[m.IssueSummary.from_api(i) for i in kept],
    )


@github_tool("issues")
async def get_issue(gh: GitHub, args: a.IssueArgs) -> m.IssueDetail:
    """One issue with its body."""
    repo = gh.repo
    response = await gh.get(
        repo.path(f"/issues/{args.issue_number}"),
        permissions=READ_ISSUES,
        what=f"issue #{args.issue_number}",
    )
    data = response.decoded(wire.Item)
    await gh.refuse_untrusted(repo, data, f"Issue #{args.issue_number}")
    body, cut = truncate(sanitize_text(data.get("body")), gh.settings.max_text_chars)
    return m.IssueDetail(
        **fields_of(m.IssueSummary.from_api(data)),
        body=body,
        body_truncated=cut,
        assignees=[strip_invisible(u.get("login", "")) for u in data.get("assignees") or []],
        closed_at=data.get("closed_at"),
    )


@github_tool("issues")
async def get_issue_comments(gh: GitHub, args: a.IssueCommentsArgs) -> m.CommentList:
    """Comments on an issue or pull request, oldest first."""
    repo, page = gh.repo, gh.page(args)
    response = await gh.get(
        repo.path(f"/issues/{args.issue_number}/comments"),
        permissions=READ_ISSUES,
        params=page.params,
    )
    kept, withheld = await gh.keep_trusted(repo, response.decoded(list[wire.Item]))
    limit = gh.settings.max_text_chars
    return m.CommentList(
        **page.of(response),
        withheld=withheld,
        items=[m.Comment.from_api(c, limit) for c in kept],
    )


@github_tool("issues")
async def search_issues(gh: GitHub, args: a.SearchArgs) -> m.IssueList:
    """Search issues and pull requests (GitHub search syntax); only allowlisted repositories."""
    page = gh.page(args)
    query = {"q": args.query, "sort": args.sort, "order": args.order}
    response = await gh.get("/search/issues", permissions=READ_ISSUES, params=page.params | query)
    found = response.decoded(wire.SearchPage)
    allowed = [(i, _repo_of(i)) for i in found.items]
    allowed = [(i, repo) for i, repo in allowed if gh.allows(repo.full_name)]
    kept = [i for i, repo in allowed if not await gh.withhold(repo, author_of(i))]
    return m.IssueList(
        **page.of(response),
        filtered_out=len(found.items) - len(allowed),
        withheld=len(allowed) - len(kept),
        total_count=found.total_count,
        items=[m.IssueSummary.from_api(i) for i in kept],
    )


def _repo_of(item: wire.Item) -> Repo:
    """The repository of a search hit, from its ``repository_url``."""
    url = str(item.get("repository_url") or "")
    return Repo.of_full_name("/".join(url.rstrip("/").split("/")[-2:]))


# ---------------------------------------------------------------- writes


def wrote(action: str, repo: Repo, response: Response, number: int | None = None) -> WriteResult:
    """The answer of a write that opened, changed or commented on an issue or pull request."""
    created = response.decoded(wire.Created)
    return WriteResult(
        action=action,
        repository=repo.full_name,
        number=number if number is not None else created.number,
        html_url=created.html_url,
    )


@github_tool("issues", write=True, destructive=False)
async def create_issue(gh: GitHub, args: a.CreateIssue) -> WriteResult:
    """Open an issue."""
    repo = gh.repo
    body: dict[str, object] = {"title": args.title, "body": args.body}
    if args.labels:
        body["labels"] = args.labels
    if args.assignees:
        body["assignees"] = args.assignees
    response = await gh.request("POST", repo.path("/issues"), permissions=WRITE_ISSUES, json=body)
    return wrote("opened issue", repo, response)


@github_tool("issues", write=True, destructive=True)
async def update_issue(gh: GitHub, args: a.UpdateIssue) -> WriteResult:
    """Change an issue's title, body, state, labels or assignees."""
    repo = gh.repo
    fields = ("title", "body", "state", "labels", "assignees")
    body = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    if not body:
        raise ToolError("Nothing to change: give at least one of " + ", ".join(fields) + ".")
    response = await gh.request(
        "PATCH",
        repo.path(f"/issues/{args.issue_number}"),
        permissions=WRITE_ISSUES,
        json=body,
    )
    return wrote("updated issue", repo, response)


@github_tool("issues", write=True, destructive=False)
async def add_issue_comment(gh: GitHub, args: a.AddComment) -> WriteResult:
    """Comment on an issue or pull request."""
    repo = gh.repo
    response = await gh.request(
        "POST",
        repo.path(f"/issues/{args.issue_number}/comments"),
        permissions=WRITE_ISSUES,
        json={"body": args.body},
    )
    return wrote("commented on", repo, response, number=args.issue_number)
