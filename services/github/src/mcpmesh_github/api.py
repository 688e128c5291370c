"""One tool call's access to GitHub: allowlist → credential → request, in that order.

Every request goes through :meth:`GitHub.request`, so none can skip the allowlist or
take a broader credential than the call declares. The helpers below are what the tools
share: a checked repository, a page, lockdown filtering.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import msgspec

from mcpmesh import Context, ToolError
from mcpmesh_github.args import RepoRef
from mcpmesh_github.auth import HOW_TO_SET, Grant
from mcpmesh_github.client import GitHubApiError, Response
from mcpmesh_github.safety import PUSH_PERMISSIONS, Repo
from mcpmesh_github.settings import GitHubSettings
from mcpmesh_github.state import State
from mcpmesh_github.wire import Item, Permission, RepositoryFacts

Permissions = Mapping[str, str]
READ_CONTENTS = {"contents": "read"}
WRITE_CONTENTS = {"contents": "write"}
READ_ISSUES = {"issues": "read"}
WRITE_ISSUES = {"issues": "write"}
READ_PULLS = {"pull_requests": "read"}
WRITE_PULLS = {"pull_requests": "write"}
READ_ACTIONS = {"actions": "read"}


class PageArgs(Protocol):
    page: int
    per_page: int


class PageQuery(msgspec.Struct, frozen=True):
    """A page a list tool asks for, within the service's caps."""

    page: int
    per_page: int

    @property
    def params(self) -> dict[str, Any]:
        return {"page": self.page, "per_page": self.per_page}

    def of(self, response: Response) -> dict[str, Any]:
        """The pagination fields of a list result (see ``models.common.Page``)."""
        return self.params | {"next_page": response.next_page}


class GitHub:
    """The state of the service and the context of this call, together."""

    def __init__(self, state: State, ctx: Context, repo: Repo | None = None) -> None:
        self.state = state
        self.ctx = ctx
        self._repo = repo

    @classmethod
    def for_call(cls, state: State, ctx: Context, args: object) -> GitHub:
        """The view for one call. Arguments naming a repository (``owner``, ``repo``) are
        validated and allowlist-checked here, once, before the tool runs."""
        if isinstance(args, RepoRef):
            return cls(state, ctx, state.allowlist.checked(args.owner, args.repo))
        return cls(state, ctx)

    @property
    def settings(self) -> GitHubSettings:
        return self.state.settings

    @property
    def repo(self) -> Repo:
        """The call's repository (validated and allowed before the tool ran)."""
        if self._repo is None:
            raise RuntimeError("this tool's arguments name no repository")
        return self._repo

    def allows(self, full_name: str) -> bool:
        """For search results: is this repository in the allowlist?"""
        return self.state.allowlist.allows(full_name)

    def page(self, args: PageArgs) -> PageQuery:
        cap = self.settings.max_page
        if args.page > cap:
            raise ToolError(
                f"page {args.page} is past this service's cap of {cap} pages "
                "(MCPMESH_GH_MAX_PAGE); narrow the query instead."
            )
        return PageQuery(args.page, min(args.per_page, self.settings.max_per_page))

    # ------------------------------------------------------------ requests

    async def get(
        self,
        path: str,
        *,
        permissions: Permissions,
        repo: Repo | None = None,
        params: Mapping[str, Any] | None = None,
        accept: str | None = None,
        text: bool = False,
        what: str = "",
    ) -> Response:
        return await self.request(
            "GET",
            path,
            repo=repo,
            permissions=permissions,
            params=params,
            accept=accept,
            text=text,
            what=what,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        permissions: Permissions,
        repo: Repo | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: str | None = None,
        text: bool = False,
        what: str = "",
    ) -> Response:
        """One request with the narrowest credential (for ``repo``, by default the call's
        own); a 401 gets one fresh credential (an App token revoked early, or a PAT
        rotated in Vault)."""
        repo = repo or self._repo
        if repo is not None:
            self.state.allowlist.check(repo)
        grant = Grant.of(repo, permissions)
        broker, secrets = self.state.broker, self.ctx.secrets
        principal = self.ctx.principal.key if self.ctx.principal is not None else None
        for attempt in range(2):
            credential = await broker.credential(secrets, principal, grant)
            try:
                return await self.state.client.request(
                    method,
                    path,
                    authorization=credential.authorization,
                    params=params,
                    json=json,
                    accept=accept,
                    text=text,
                    what=what,
                )
            except GitHubApiError as exc:
                if exc.status != 401:
                    raise
                if attempt == 1:
                    raise ToolError(
                        "GitHub rejected the configured credentials (401 Bad credentials): "
                        f"the token expired or was revoked. {HOW_TO_SET}"
                    ) from None
                if credential.kind == "app":
                    broker.forget(credential)
                else:
                    await secrets.forget("token", principal=principal)
        raise AssertionError("unreachable")  # pragma: no cover

    async def app(self) -> Response | None:
        """``GET /app`` signed with the App's JWT; None in token mode."""
        jwt_token = await self.state.broker.app_jwt(self.ctx.secrets)
        if jwt_token is None:
            return None
        return await self.state.client.request("GET", "/app", authorization=f"Bearer {jwt_token}")

    # ------------------------------------------------------------ lockdown

    async def withhold(self, repo: Repo, login: str | None) -> bool:
        """True when lockdown says this author's text must not be shown."""
        lockdown = self.state.lockdown
        if not lockdown.enabled or not await lockdown.applies(repo.full_name, self._public(repo)):
            return False
        return not await lockdown.trusted(repo.full_name, login, self._has_push(repo))

    async def keep_trusted(
        self, repo: Repo, items: list[Item], key: str = "user"
    ) -> tuple[list[Item], int]:
        """The items lockdown lets through, and how many it withheld."""
        kept = [i for i in items if not await self.withhold(repo, author_of(i, key))]
        return kept, len(items) - len(kept)

    async def refuse_untrusted(self, repo: Repo, item: Item, what: str) -> None:
        author = author_of(item)
        if await self.withhold(repo, author):
            raise ToolError(
                f"{what} in public repository {repo.full_name} was written by {author}, who "
                "has no push access; lockdown mode (MCPMESH_GH_LOCKDOWN) withholds its content."
            )

    def _public(self, repo: Repo) -> Callable[[], Awaitable[bool]]:
        async def is_public() -> bool:
            response = await self.get(repo.path(), repo=repo, permissions={})
            return not response.decoded(RepositoryFacts).private

        return is_public

    def _has_push(self, repo: Repo) -> Callable[[str], Awaitable[bool]]:
        async def has_push(user: str) -> bool:
            try:
                response = await self.get(
                    repo.path(f"/collaborators/{user}/permission"), repo=repo, permissions={}
                )
            except GitHubApiError as exc:
                if exc.status in (403, 404):
                    return False  # fail closed: unknown means untrusted
                raise
            found = response.decoded(Permission)
            return bool({found.permission, found.role_name} & PUSH_PERMISSIONS)

        return has_push


def author_of(item: Item, key: str = "user") -> str | None:
    user = item.get(key)
    return user.get("login") if isinstance(user, dict) else None
