"""Credentials per call: a GitHub App installation token narrowed to the call, or a PAT.

No standing token: every credential comes from the secret provider (Vault) when a call
needs it. With a GitHub App (preferred), the service signs a short JWT with the App's
private key and mints an installation token restricted to the repository and the
permissions of this one call; it is reused only for the same narrowing and only until
shortly before GitHub's ``expires_at``. Tokens are registered for redaction, so they
never reach logs or results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
import structlog

from mcpmesh import ToolError
from mcpmesh.guard.redaction import remember
from mcpmesh.secrets import SecretUnavailable
from mcpmesh_github.client import GitHubApiError, GitHubClient
from mcpmesh_github.safety import Repo
from mcpmesh_github.settings import GitHubSettings

log = structlog.get_logger("mcpmesh_github.auth")

HOW_TO_SET = (
    "Set a personal access token with `mcpmesh secrets set github token`, or (preferred) a "
    "GitHub App with `mcpmesh secrets set github app_id`, `mcpmesh secrets set github "
    "app_installation_id` and `mcpmesh secrets set github app_private_key`."
)
Permissions = Mapping[str, str]


class NoCredentials(ToolError):
    """Neither a token nor a GitHub App is configured."""


class Grant(msgspec.Struct, frozen=True):
    """What one call may do: the repositories it touches and the App permissions."""

    owner: str | None = None
    repos: tuple[str, ...] = ()
    permissions: tuple[tuple[str, str], ...] = (("metadata", "read"),)

    @classmethod
    def of(cls, repo: Repo | None, permissions: Permissions) -> Grant:
        perms = dict(permissions)
        perms.setdefault("metadata", "read")
        if repo is None:
            return cls(permissions=tuple(sorted(perms.items())))
        return cls(owner=repo.owner, repos=(repo.name,), permissions=tuple(sorted(perms.items())))


class Credential(msgspec.Struct, frozen=True):
    kind: str  # "token" or "app"
    authorization: str


class _Minted(msgspec.Struct):
    token: str
    expires_at: float


class CredentialBroker:
    """Gives each call the narrowest credential available."""

    def __init__(self, settings: GitHubSettings, client: GitHubClient) -> None:
        self.settings = settings
        self.client = client
        self._minted: dict[tuple[str, str, Grant], _Minted] = {}
        self._locks: dict[tuple[str, str, Grant], asyncio.Lock] = {}
        #: Installation tokens minted so far (for tests and metrics).
        self.mint_count = 0

    async def credential(self, secrets: Any, principal: str | None, grant: Grant) -> Credential:
        app = await self._app_secrets(secrets)
        if app is not None:
            token = await self._installation_token(*app, grant)
            return Credential("app", f"Bearer {token}")
        return Credential("token", f"Bearer {await self._token(secrets, principal)}")

    async def app_jwt(self, secrets: Any) -> str | None:
        """A JWT for App-level endpoints (``GET /app``), or None in token mode."""
        app = await self._app_secrets(secrets)
        return None if app is None else _sign_jwt(app[0], app[2])

    def forget(self, credential: Credential) -> None:
        """GitHub rejected a minted token (revoked, App uninstalled): never reuse it."""
        token = credential.authorization.removeprefix("Bearer ")
        for key, minted in list(self._minted.items()):
            if minted.token == token:
                del self._minted[key]

    # ------------------------------------------------------------ sources

    async def _app_secrets(self, secrets: Any) -> tuple[str, str, str] | None:
        if self.settings.auth == "token":
            return None
        if secrets is None:
            raise NoCredentials("No secret provider is configured for the GitHub service.")
        try:
            app_id = (await secrets.get("app_id")).strip()
        except SecretUnavailable as exc:
            if self.settings.auth == "app" or not _about_the_secret(exc):
                raise  # e.g. Vault refused the login: that is the cause, say it
            return None
        installation_id = (await secrets.get("app_installation_id")).strip()
        private_key = await secrets.get("app_private_key")
        if not installation_id.isdigit():
            raise ToolError(
                "The GitHub App installation id is not a number; set it again with "
                "`mcpmesh secrets set github app_installation_id`."
            )
        return app_id, installation_id, private_key

    async def _token(self, secrets: Any, principal: str | None) -> str:
        if secrets is None:
            raise NoCredentials("No secret provider is configured for the GitHub service.")
        try:
            token = (await secrets.get("token", principal=principal)).strip()
        except SecretUnavailable as exc:
            if not _about_the_secret(exc):
                raise  # Vault unreachable or its login refused: not a missing token
            if principal is not None:  # the caller's own token is what is missing
                raise NoCredentials(f"No GitHub credentials for {principal}: {exc}") from exc
            raise NoCredentials(
                f"No GitHub credentials are set. {HOW_TO_SET} (The secret provider said: {exc})"
            ) from exc
        if not token:
            raise NoCredentials(f"The GitHub token is empty. {HOW_TO_SET}")
        remember(token)
        return token

    async def _installation_token(
        self, app_id: str, installation_id: str, private_key: str, grant: Grant
    ) -> str:
        key = (app_id, installation_id, grant)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # single flight: concurrent calls share one mint
            minted = self._minted.get(key)
            if (
                minted is not None
                and minted.expires_at - self.settings.app_token_margin > time.time()
            ):
                return minted.token
            minted = await self._mint(app_id, installation_id, private_key, grant)
            self._minted[key] = minted
            return minted.token

    async def _mint(
        self, app_id: str, installation_id: str, private_key: str, grant: Grant
    ) -> _Minted:
        body: dict[str, Any] = {"permissions": dict(grant.permissions)}
        if grant.repos:
            body["repositories"] = list(grant.repos)
        try:
            response = await self.client.request(
                "POST",
                f"/app/installations/{installation_id}/access_tokens",
                authorization=f"Bearer {_sign_jwt(app_id, private_key)}",
                json=body,
                what="minting a GitHub App installation token",
            )
        except GitHubApiError as exc:
            raise _mint_error(exc) from None
        data = response.data if isinstance(response.data, dict) else {}
        token, expires = data.get("token"), data.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires, str):
            raise ToolError("GitHub answered the token request without a token.")
        remember(token)
        self.mint_count += 1
        expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
        log.info(
            "github_app_token_minted",
            repositories=list(grant.repos),
            permissions=dict(grant.permissions),
            expires_in_s=int(expires_at - time.time()),
        )
        return _Minted(token=token, expires_at=expires_at)


def _about_the_secret(exc: SecretUnavailable) -> bool:
    """True when the provider answered about this one secret (not set, not readable);
    False when it could not answer at all (Vault unreachable, its login refused, shutting
    down), which the caller must report as it is: "no credentials set" would hide it."""
    return exc.name is not None


def _sign_jwt(app_id: str, private_key: str) -> str:
    """The App's JWT: issued a minute in the past (clock drift), valid nine minutes."""
    import jwt  # PyJWT: only a GitHub App needs it, at its first token (not at start)

    now = int(time.time())
    try:
        return jwt.encode(
            {"iat": now - 60, "exp": now + 540, "iss": app_id}, private_key, algorithm="RS256"
        )
    except (ValueError, TypeError, jwt.PyJWTError):
        raise ToolError(
            "The GitHub App private key is not a valid PEM RSA key; set it again with "
            "`mcpmesh secrets set github app_private_key`."
        ) from None


def _mint_error(exc: GitHubApiError) -> ToolError:
    if exc.status == 401:
        return ToolError(
            "GitHub rejected the GitHub App's signature: check the App id and private key "
            "(`mcpmesh secrets set github app_id`, `mcpmesh secrets set github app_private_key`)."
        )
    if exc.status == 404:
        return ToolError(
            "GitHub does not know this App installation; set the right id with "
            "`mcpmesh secrets set github app_installation_id`."
        )
    if exc.status == 422:
        return ToolError(
            f"GitHub would not mint a token for this call: {exc}. The App is probably not "
            "installed on that repository or lacks the permission."
        )
    return exc
