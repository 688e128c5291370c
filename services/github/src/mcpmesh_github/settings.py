"""The GitHub service's settings (prefix ``MCPMESH_GH_``), one typed Struct.

Every field is documented in the service README; a bad value stops the service at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import msgspec
import structlog

from mcpmesh.config import SettingsError, load_settings

log = structlog.get_logger("mcpmesh_github.settings")

DEFAULT_TOOLSETS = ["context", "repos", "issues", "pull_requests"]


class GitHubSettings(msgspec.Struct, kw_only=True, frozen=True):
    #: Base URL of the REST API (GitHub Enterprise: ``https://HOST/api/v3``; tests: the double).
    api_url: str = "https://api.github.com"
    #: ``X-GitHub-Api-Version`` sent with every request.
    api_version: str = "2022-11-28"
    #: Toolsets to offer: context, repos, issues, pull_requests, search, actions (or ``all``).
    toolsets: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_TOOLSETS))
    #: Single tools to offer in addition to the toolsets.
    tools: list[str] = []
    #: Tools never offered (wins over toolsets and tools).
    exclude_tools: list[str] = []
    #: Offer the write tools of the chosen toolsets (off: none at all, whatever is named).
    write: bool = False
    #: ``owner/repo`` patterns (fnmatch: ``octo-org/*``, ``*``) a call may touch; empty: none.
    allowed_repos: list[str] = []
    #: On public repositories, withhold content from authors without push access.
    lockdown: bool = False
    #: Authors trusted in lockdown mode even without push access.
    trusted_bots: list[str] = msgspec.field(
        default_factory=lambda: ["github-actions[bot]", "copilot", "dependabot[bot]"]
    )
    #: ``auto`` (a GitHub App when its secrets exist, else a token), ``app`` or ``token``.
    auth: Literal["auto", "app", "token"] = "auto"
    #: Seconds before ``expires_at`` an App installation token is no longer reused.
    app_token_margin: float = 300.0
    #: Largest ``per_page`` a list tool sends (GitHub's own maximum is 100).
    max_per_page: int = 100
    #: Highest page number a list tool may ask for (bounds deep scans).
    max_page: int = 50
    #: Characters of one file's patch in get_commit / get_pull_request_files.
    max_patch_chars: int = 4000
    #: Characters of a whole diff (get_pull_request_diff) or file (get_file_contents).
    max_text_chars: int = 60_000
    #: Lines of a job log's tail get_job_logs returns at most.
    max_log_lines: int = 500
    #: Bytes of a job log downloaded at most (the tail of these is returned).
    max_log_bytes: int = 20 * 1024 * 1024
    #: Retries after a rate-limit or server error answer.
    max_retries: int = 3
    #: Longest single wait (s) for a rate limit to reset; longer gives a clear error now.
    max_rate_limit_wait: float = 60.0
    #: Seconds one GitHub request may take.
    request_timeout: float = 30.0
    #: Responses kept for conditional requests (ETag / If-None-Match).
    etag_cache_size: int = 512


PREFIX = "MCPMESH_GH_"
#: The write switch's name before it was ``MCPMESH_GH_WRITE`` (the inverse of it).
DEPRECATED_READ_ONLY = PREFIX + "READ_ONLY"


def load_github_settings(env: Mapping[str, str] | None = None) -> GitHubSettings:
    """The settings from the ``MCPMESH_GH_…`` environment.

    ``MCPMESH_GH_READ_ONLY`` (the old, inverted name of ``MCPMESH_GH_WRITE``) still
    works, with a deprecation warning; when both are set, ``MCPMESH_GH_WRITE`` wins.
    """
    env = os.environ if env is None else env
    overrides: dict[str, bool] = {}
    old = env.get(DEPRECATED_READ_ONLY)
    if old is not None:
        try:
            read_only = msgspec.json.decode(old.strip().lower(), type=bool)
        except msgspec.DecodeError:
            raise SettingsError(
                f"Bad setting {DEPRECATED_READ_ONLY}: expected true or false"
            ) from None
        log.warning(
            "deprecated_setting",
            setting=DEPRECATED_READ_ONLY,
            use=f"{PREFIX}WRITE={'false' if read_only else 'true'}",
            ignored=PREFIX + "WRITE" in env,
        )
        if PREFIX + "WRITE" not in env:
            overrides["write"] = not read_only
    return load_settings(GitHubSettings, prefix=PREFIX, env=env, **overrides)
