"""The repository allowlist, input validation of names, and lockdown mode.

The allowlist is checked before any request is sent and again on everything a search
returns: an agent steered by injected text cannot reach a repository the operator did
not list (github-mcp-server #844: a public issue made an agent leak private repos).
Lockdown (as in GitHub's own server) withholds, on public repositories, what people
without push access wrote; it narrows the injection surface and is not an
authorization boundary.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from mcpmesh import ToolError

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_REF_FORBIDDEN = re.compile(r"(\.\.|[\x00-\x20~^:?*\[\\]|@\{|//|^/|/$|\.lock$|^-)")
_PATH_FORBIDDEN = re.compile(r"(^|/)\.\.?(/|$)|[\x00-\x1f\\]")
PUSH_PERMISSIONS = frozenset(["admin", "maintain", "write"])


class Repo(msgspec.Struct, frozen=True):
    """A repository a call may touch. Made only by :meth:`RepoAllowlist.checked` (names
    validated, allowlist checked) or from what GitHub itself returned."""

    owner: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def path(self, suffix: str = "") -> str:
        """The REST path of this repository, or of ``suffix`` under it."""
        return f"/repos/{self.owner}/{self.name}{suffix}"

    @classmethod
    def of_full_name(cls, full_name: str) -> Repo:
        owner, _, name = full_name.partition("/")
        return cls(owner, name)


def check_names(owner: str, repo: str) -> tuple[str, str]:
    if not _OWNER.match(owner):
        raise ToolError(f"{owner!r} is not a valid GitHub owner name (letters, digits, '-').")
    if not _REPO.match(repo) or repo in (".", ".."):
        raise ToolError(
            f"{repo!r} is not a valid repository name (letters, digits, '.', '_', '-')."
        )
    return owner, repo


def check_ref(ref: str, what: str = "ref") -> str:
    if not ref or len(ref) > 250 or _REF_FORBIDDEN.search(ref):
        raise ToolError(f"{ref!r} is not a valid git {what} name.")
    return ref


def check_path(path: str) -> str:
    path = path.strip("/")
    if len(path) > 1000 or _PATH_FORBIDDEN.search(path):
        raise ToolError(f"{path!r} is not a valid path inside a repository (no '..', no controls).")
    return path


class RepoAllowlist:
    """``owner/repo`` patterns (fnmatch, case-insensitive, as GitHub names are)."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [p.strip().lower() for p in patterns if p.strip()]

    def allows(self, full_name: str) -> bool:
        name = full_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patterns)

    def checked(self, owner: str, repo: str) -> Repo:
        """The repository, once its names are valid and the allowlist allows it; a
        ToolError (nothing sent) otherwise."""
        check_names(owner, repo)
        checked = Repo(owner, repo)
        self.check(checked)
        return checked

    def check(self, repo: Repo) -> None:
        if not self.allows(repo.full_name):
            configured = ",".join(self.patterns) or "(empty: no repository allowed)"
            raise ToolError(
                f"Repository {repo.full_name} is not in this service's allowlist "
                f"(MCPMESH_GH_ALLOWED_REPOS={configured}); nothing was requested from GitHub. "
                "Ask the operator to add it if the task needs it."
            )


Fetch = Callable[[str, str], Awaitable[Any]]


class Lockdown:
    """Decides whose text may be shown from a public repository.

    Repository visibility and authors' permissions are cached for ``ttl`` seconds: both
    change rarely and each costs a request.
    """

    def __init__(self, enabled: bool, trusted_bots: list[str], ttl: float = 300.0) -> None:
        self.enabled = enabled
        self.trusted_bots = {b.lower() for b in trusted_bots}
        self.ttl = ttl
        self._public: dict[str, tuple[float, bool]] = {}
        self._push: dict[tuple[str, str], tuple[float, bool]] = {}

    def _fresh(self, entry: tuple[float, bool] | None) -> bool | None:
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    async def applies(self, full_name: str, is_public: Callable[[], Awaitable[bool]]) -> bool:
        if not self.enabled:
            return False
        key = full_name.lower()
        known = self._fresh(self._public.get(key))
        if known is None:
            known = await is_public()
            self._public[key] = (time.monotonic() + self.ttl, known)
        return known

    async def trusted(
        self, full_name: str, login: str | None, has_push: Callable[[str], Awaitable[bool]]
    ) -> bool:
        if not login:
            return False
        if login.lower() in self.trusted_bots:
            return True
        key = (full_name.lower(), login.lower())
        known = self._fresh(self._push.get(key))
        if known is None:
            known = await has_push(login)
            self._push[key] = (time.monotonic() + self.ttl, known)
        return known
