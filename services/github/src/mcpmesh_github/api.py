"""The handlers' access to GitHub: allowlist → credential → request, in that order.

Every tool goes through :meth:`GitHub.call`, so no request can skip the allowlist or
take a broader credential than the call declares.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from mcpmesh import Context, Service, ToolError
from mcpmesh_github.auth import HOW_TO_SET, CredentialBroker, Grant
from mcpmesh_github.client import GitHubApiError, GitHubClient, Response
from mcpmesh_github.safety import PUSH_PERMISSIONS, Lockdown, RepoAllowlist, check_names
from mcpmesh_github.settings import GitHubSettings

_FACADES: weakref.WeakKeyDictionary[Service, GitHub] = weakref.WeakKeyDictionary()

Repo = tuple[str, str]


class GitHub:
    """One per service instance: the client, the credential broker and the guards."""

    def __init__(self, settings: GitHubSettings) -> None:
        self.settings = settings
        self.client = GitHubClient(settings)
        self.broker = CredentialBroker(settings, self.client)
        self.allowlist = RepoAllowlist(settings.allowed_repos)
        self.lockdown = Lockdown(settings.lockdown, settings.trusted_bots)

    def attach(self, service: Service) -> None:
        _FACADES[service] = self

    @staticmethod
    def of(ctx: Context) -> GitHub:
        return _FACADES[ctx.service]

    def repo(self, owner: str, repo: str) -> Repo:
        """Validated and allowed, or a ToolError before anything is sent."""
        check_names(owner, repo)
        self.allowlist.check(owner, repo)
        return owner, repo

    async def call(
        self,
        ctx: Context,
        method: str,
        path: str,
        *,
        repo: Repo | None,
        permissions: Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: str | None = None,
        text: bool = False,
        what: str = "",
    ) -> Response:
        if repo is not None:
            self.allowlist.check(*repo)
        grant = Grant.of(repo, permissions)
        for attempt in range(2):
            who = ctx.principal.key if ctx.principal is not None else None
            credential = await self.broker.credential(ctx.secrets, who, grant)
            try:
                return await self.client.request(
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
                if attempt == 0:
                    # Revoked early (App) or rotated in Vault (token): get a fresh one once.
                    if credential.kind == "app":
                        self.broker.forget(credential)
                    else:
                        await ctx.secrets.forget("token", principal=ctx.principal)
                    continue
                raise ToolError(
                    "GitHub rejected the configured credentials (401 Bad credentials): the "
                    f"token expired or was revoked. {HOW_TO_SET}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def call_app(self, ctx: Context, path: str) -> Response | None:
        """An App-level call signed with the App's JWT; None in token mode."""
        jwt_token = await self.broker.app_jwt(ctx.secrets)
        if jwt_token is None:
            return None
        return await self.client.request("GET", path, authorization=f"Bearer {jwt_token}")

    # ------------------------------------------------------------ pagination

    def page_params(self, page: int, per_page: int) -> dict[str, Any]:
        if page > self.settings.max_page:
            raise ToolError(
                f"page {page} is past this service's cap of {self.settings.max_page} pages "
                "(MCPMESH_GH_MAX_PAGE); narrow the query instead."
            )
        return {"page": page, "per_page": min(per_page, self.settings.max_per_page)}

    # ------------------------------------------------------------ lockdown

    async def lockdown_applies(self, ctx: Context, repo: Repo) -> bool:
        async def is_public() -> bool:
            response = await self.call(
                ctx, "GET", f"/repos/{repo[0]}/{repo[1]}", repo=repo, permissions={}
            )
            return not bool((response.data or {}).get("private", True))

        return await self.lockdown.applies(f"{repo[0]}/{repo[1]}", is_public)

    async def trusted_author(self, ctx: Context, repo: Repo, login: str | None) -> bool:
        async def has_push(user: str) -> bool:
            try:
                response = await self.call(
                    ctx,
                    "GET",
                    f"/repos/{repo[0]}/{repo[1]}/collaborators/{user}/permission",
                    repo=repo,
                    permissions={},
                )
            except GitHubApiError as exc:
                if exc.status in (403, 404):
                    return False  # fail closed: unknown means untrusted
                raise
            data = response.data or {}
            return data.get("permission") in PUSH_PERMISSIONS or data.get("role_name") in (
                PUSH_PERMISSIONS
            )

        return await self.lockdown.trusted(f"{repo[0]}/{repo[1]}", login, has_push)

    async def withhold(self, ctx: Context, repo: Repo, login: str | None) -> bool:
        """True when lockdown says this author's text must not be shown."""
        if not self.lockdown.enabled or not await self.lockdown_applies(ctx, repo):
            return False
        return not await self.trusted_author(ctx, repo, login)
