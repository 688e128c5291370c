"""The search toolset: code and users."""

from __future__ import annotations

from mcpmesh.guard.sanitize import strip_invisible
from mcpmesh_github import args as a
from mcpmesh_github import wire
from mcpmesh_github.api import READ_CONTENTS, GitHub
from mcpmesh_github.models import search as m
from mcpmesh_github.registry import github_tool


@github_tool("search")
async def search_code(gh: GitHub, args: a.SearchArgs) -> m.CodeHitList:
    """Search code (GitHub code search syntax); only allowlisted repositories are shown."""
    page = gh.page(args)
    query = {"q": args.query, "sort": args.sort, "order": args.order}
    response = await gh.get("/search/code", permissions=READ_CONTENTS, params=page.params | query)
    found = response.decoded(wire.SearchPage)
    hits = [
        m.CodeHit(
            repository=(i.get("repository") or {}).get("full_name", ""),
            path=strip_invisible(i.get("path", "")),
            name=strip_invisible(i.get("name", "")),
            sha=i.get("sha", ""),
            html_url=i.get("html_url", ""),
        )
        for i in found.items
    ]
    allowed = [h for h in hits if gh.allows(h.repository)]
    return m.CodeHitList(
        **page.of(response),
        filtered_out=len(hits) - len(allowed),
        total_count=found.total_count,
        items=allowed,
    )


@github_tool("search")
async def search_users(gh: GitHub, args: a.SearchArgs) -> m.UserHitList:
    """Search users and organizations by login, name or email."""
    page = gh.page(args)
    query = {"q": args.query, "sort": args.sort, "order": args.order}
    response = await gh.get("/search/users", permissions={}, params=page.params | query)
    found = response.decoded(wire.SearchPage)
    items = [
        m.UserHit(
            login=strip_invisible(u.get("login", "")),
            id=int(u.get("id") or 0),
            type=str(u.get("type") or ""),
            html_url=u.get("html_url", ""),
        )
        for u in found.items
    ]
    return m.UserHitList(**page.of(response), total_count=found.total_count, items=items)
