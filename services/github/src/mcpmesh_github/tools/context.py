"""The context toolset: who the service acts as."""

from __future__ import annotations

from mcpmesh_github import args as a
from mcpmesh_github.api import GitHub
from mcpmesh_github.models.context import Me
from mcpmesh_github.registry import github_tool


@github_tool("context")
async def get_me(gh: GitHub, args: a.NoArgs) -> Me:
    """Who the service acts as on GitHub: the user of the token, or the GitHub App."""
    app = await gh.app()
    if app is not None:
        return Me.from_api(app.data or {}, "app")
    response = await gh.get("/user", permissions={}, what="GET /user")
    return Me.from_api(response.data or {}, "user")
