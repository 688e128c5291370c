"""The pull_requests toolset: pull requests, diffs, files, reviews (and writes, merge)."""

from __future__ import annotations

from mcpmesh import ToolError
from mcpmesh.guard.sanitize import sanitize_plain, sanitize_text, strip_invisible
from mcpmesh_github import args as a
from mcpmesh_github import wire
from mcpmesh_github.api import READ_PULLS, WRITE_CONTENTS, WRITE_PULLS, GitHub, author_of
from mcpmesh_github.models import pulls as m
from mcpmesh_github.models.common import WriteResult, truncate
from mcpmesh_github.models.repos import FileChange
from mcpmesh_github.registry import github_tool
from mcpmesh_github.safety import Repo, check_ref
from mcpmesh_github.tools.issues import wrote


@github_tool("pull_requests")
async def list_pull_requests(gh: GitHub, args: a.ListPulls) -> m.PullList:
    """Pull requests of a repository."""
    repo, page = gh.repo, gh.page(args)
    query = {
        "state": args.state,
        "head": args.head,
        "base": args.base,
        "sort": args.sort,
        "direction": args.direction,
    }
    response = await gh.get(repo.path("/pulls"), permissions=READ_PULLS, params=page.params | query)
    kept, withheld = await gh.keep_trusted(repo, response.decoded(list[wire.Item]))
    return m.PullList(
        **page.of(response),
        withheld=withheld,
        items=[m.PullSummary.from_api(p) for p in kept],
    )


async def _pull(gh: GitHub, repo: Repo, number: int) -> wire.Item:
    """The pull request, unless lockdown withholds its author's text."""
    response = await gh.get(
        repo.path(f"/pulls/{number}"),
        permissions=READ_PULLS,
        what=f"pull request #{number}",
    )
    data = response.decoded(wire.Item)
    await gh.refuse_untrusted(repo, data, f"Pull request #{number}")
    return data


@github_tool("pull_requests")
async def get_pull_request(gh: GitHub, args: a.PullArgs) -> m.PullDetail:
    """One pull request: branches, state, mergeability, size and description."""
    repo = gh.repo
    data = await _pull(gh, repo, args.pull_number)
    return m.PullDetail.from_api(data, gh.settings.max_text_chars)


@github_tool("pull_requests")
async def get_pull_request_diff(gh: GitHub, args: a.PullArgs) -> m.PullDiff:
    """The unified diff of a pull request (truncated past a size cap, and said so)."""
    repo = gh.repo
    await _pull(gh, repo, args.pull_number)
    response = await gh.get(
        repo.path(f"/pulls/{args.pull_number}"),
        permissions=READ_PULLS,
        accept="application/vnd.github.diff",
        text=True,
    )
    diff = sanitize_plain(response.data if isinstance(response.data, str) else "")
    shown, cut = truncate(diff, gh.settings.max_text_chars)
    return m.PullDiff(number=args.pull_number, diff=shown, truncated=cut, total_chars=len(diff))


@github_tool("pull_requests")
async def get_pull_request_files(gh: GitHub, args: a.PullPagedArgs) -> m.FileChangeList:
    """Files a pull request changes, with per-file patches (long ones truncated)."""
    repo = gh.repo
    await _pull(gh, repo, args.pull_number)
    page = gh.page(args)
    response = await gh.get(
        repo.path(f"/pulls/{args.pull_number}/files"),
        permissions=READ_PULLS,
        params=page.params,
    )
    limit = gh.settings.max_patch_chars
    items = [FileChange.from_api(f, limit) for f in response.decoded(list[wire.Item])]
    return m.FileChangeList(**page.of(response), items=items)


@github_tool("pull_requests")
async def get_pull_request_reviews(gh: GitHub, args: a.PullPagedArgs) -> m.ReviewList:
    """Reviews of a pull request (approvals, change requests, comments)."""
    repo, page = gh.repo, gh.page(args)
    response = await gh.get(
        repo.path(f"/pulls/{args.pull_number}/reviews"),
        permissions=READ_PULLS,
        params=page.params,
    )
    kept, withheld = await gh.keep_trusted(repo, response.decoded(list[wire.Item]))
    limit = gh.settings.max_text_chars
    items = [
        m.Review(
            id=int(r.get("id") or 0),
            author=author_of(r),
            state=str(r.get("state") or ""),
            body=truncate(sanitize_text(r.get("body")), limit)[0],
            submitted_at=r.get("submitted_at"),
            html_url=r.get("html_url", ""),
        )
        for r in kept
    ]
    return m.ReviewList(**page.of(response), withheld=withheld, items=items)


# ---------------------------------------------------------------- writes


@github_tool("pull_requests", write=True, destructive=False)
async def create_pull_request(gh: GitHub, args: a.CreatePull) -> WriteResult:
    """Open a pull request from `head` into `base`."""
    repo = gh.repo
    check_ref(args.head.split(":", 1)[-1], "branch")
    check_ref(args.base, "branch")
    response = await gh.request(
        "POST",
        repo.path("/pulls"),
        permissions=WRITE_PULLS,
        json={
            "title": args.title,
            "head": args.head,
            "base": args.base,
            "body": args.body,
            "draft": args.draft,
        },
    )
    return wrote("opened pull request", repo, response)


@github_tool("pull_requests", write=True, destructive=False)
async def create_pull_request_review(gh: GitHub, args: a.CreateReview) -> WriteResult:
    """Submit a review: APPROVE, REQUEST_CHANGES (needs a body) or COMMENT."""
    repo = gh.repo
    if args.event != "APPROVE" and not (args.body or "").strip():
        raise ToolError(f"A {args.event} review needs a body.")
    body: dict[str, str] = {"event": args.event}
    if args.body:
        body["body"] = args.body
    if args.commit_id:
        body["commit_id"] = args.commit_id
    response = await gh.request(
        "POST",
        repo.path(f"/pulls/{args.pull_number}/reviews"),
        permissions=WRITE_PULLS,
        json=body,
    )
    return wrote(f"reviewed ({args.event})", repo, response, number=args.pull_number)


@github_tool("pull_requests", write=True, destructive=True)
async def merge_pull_request(gh: GitHub, args: a.MergePull) -> m.MergeResult:
    """Merge a pull request, after the user confirms it (elicitation)."""
    repo = gh.repo
    data = await _pull(gh, repo, args.pull_number)
    title = sanitize_text(data.get("title"))
    head = strip_invisible(str((data.get("head") or {}).get("label") or ""))
    base = strip_invisible(str((data.get("base") or {}).get("ref") or ""))
    question = (
        f"Merge pull request #{args.pull_number} of {repo.full_name} ({args.merge_method}): "
        f"{head} into {base}? Title (untrusted): {title!r}"
    )
    await gh.ctx.confirm(question)  # anything but an explicit yes ends the call here
    body: dict[str, str] = {"merge_method": args.merge_method}
    for field in ("commit_title", "commit_message", "sha"):
        if getattr(args, field):
            body[field] = getattr(args, field)
    response = await gh.request(
        "PUT",
        repo.path(f"/pulls/{args.pull_number}/merge"),
        permissions=WRITE_CONTENTS | WRITE_PULLS,
        json=body,
        what=f"merging pull request #{args.pull_number}",
    )
    merged = response.decoded(wire.Merged)
    return m.MergeResult(
        merged=merged.merged, message=sanitize_text(merged.message), sha=merged.sha
    )
