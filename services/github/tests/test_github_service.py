"""The GitHub service through the official MCP client, GitHub replaced by the double."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import Mesh, app_secrets
from github_double import GitHubDouble
from mcp import types
from mcp.shared.exceptions import MCPError

from mcpmesh.config import SettingsError
from mcpmesh.secrets import DevSecretProvider
from mcpmesh.testing import text_of
from mcpmesh_github.service import create
from mcpmesh_github.settings import GitHubSettings

HELLO = {"owner": "octo-org", "repo": "hello"}
WRITE_TOOLS = {
    "create_branch",
    "create_or_update_file",
    "push_files",
    "create_issue",
    "update_issue",
    "add_issue_comment",
    "create_pull_request",
    "create_pull_request_review",
    "merge_pull_request",
}


def api_calls(double: GitHubDouble) -> list[str]:
    return [f"{r.method} {r.path}" for r in double.requests]


# ---------------------------------------------------------------- tool selection


async def test_read_only_by_default_lists_no_write_tool(mesh: Mesh) -> None:
    async with mesh.session() as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {
        "get_me",
        "search_repositories",
        "get_repository",
        "get_file_contents",
        "list_branches",
        "list_commits",
        "get_commit",
        "list_releases",
        "list_issues",
        "get_issue",
        "get_issue_comments",
        "search_issues",
        "list_pull_requests",
        "get_pull_request",
        "get_pull_request_diff",
        "get_pull_request_files",
        "get_pull_request_reviews",
    }
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
    assert all(t.output_schema for t in tools.values())


async def test_toolsets_single_tools_and_exclusions(mesh: Mesh) -> None:
    async with mesh.session(
        toolsets=["actions"], tools=["get_me", "merge_pull_request"], exclude_tools=["get_job_logs"]
    ) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"get_me", "list_workflow_runs", "get_workflow_run"}  # read-only wins
        with pytest.raises(MCPError, match="Unknown tool: merge_pull_request"):
            await client.call_tool("merge_pull_request", HELLO | {"pull_number": 3})
    async with mesh.session(toolsets=["issues"], write=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"create_issue", "update_issue", "add_issue_comment"} <= set(tools)
        assert tools["update_issue"].annotations.destructive_hint is True
        assert tools["create_issue"].annotations.read_only_hint is False


def test_unknown_toolset_or_tool_stops_the_service() -> None:
    with pytest.raises(SettingsError, match="unknown toolsets or tools: gists"):
        create(github=GitHubSettings(toolsets=["gists"]), secrets=DevSecretProvider({}))
    with pytest.raises(SettingsError, match="delete_repo"):
        create(github=GitHubSettings(tools=["delete_repo"]), secrets=DevSecretProvider({}))


# ---------------------------------------------------------------- credentials


async def test_without_credentials_tools_say_what_to_set(mesh: Mesh, double: GitHubDouble) -> None:
    async with mesh.session(secrets=DevSecretProvider({}, service="github")) as client:
        result = await client.call_tool("get_repository", HELLO)
    assert result.is_error
    message = text_of(result)
    assert "mcpmesh secrets set github token" in message
    assert "mcpmesh secrets set github app_private_key" in message
    assert double.requests == []


async def test_rejected_token_is_explained_and_never_shown(mesh: Mesh) -> None:
    bad = "ghp_" + "Z" * 36
    async with mesh.session(secrets=DevSecretProvider({"token": bad}, service="github")) as client:
        result = await client.call_tool("get_me", {})
    assert result.is_error
    assert "401" in text_of(result) and "mcpmesh secrets set github token" in text_of(result)
    assert bad not in text_of(result)


class RotatingSecrets(DevSecretProvider):
    """Serves a cached token until told to forget it, like the Vault provider."""

    def __init__(self, vault: dict[str, str]) -> None:
        super().__init__(service="github")
        self.vault = vault
        self.cached: dict[str, str] = {}

    async def get(self, name: str, *, principal: str | None = None) -> str:
        if name not in self.vault:
            return await super().get(name, principal=principal)  # SecretUnavailable
        return self.cached.setdefault(name, self.vault[name])

    async def forget(self, name: str, *, principal: str | None = None) -> None:
        self.cached.pop(name, None)


async def test_token_rotated_in_vault_is_used_after_a_401(mesh: Mesh, double: GitHubDouble) -> None:
    """The cached token was revoked and a new one stored: the 401 makes the service forget
    the old one and retry once with the new one, so the call succeeds."""
    vault = {"token": "ghp_" + "Z" * 36}
    secrets = RotatingSecrets(vault)
    secrets.cached["token"] = vault["token"]
    vault["token"] = double.PAT
    async with mesh.session(secrets=secrets) as client:
        result = await client.call_tool("get_me", {})
    assert not result.is_error, text_of(result)
    assert secrets.cached["token"] == double.PAT


async def test_per_principal_token_is_looked_up_first() -> None:
    provider = DevSecretProvider(
        {"token": "service-token", "principals/alice/token": "alice-token"}, service="github"
    )
    assert await provider.get("token", principal="alice") == "alice-token"
    assert await provider.get("token", principal="bob") == "service-token"


async def test_app_tokens_are_minted_narrow_and_reused_until_near_expiry(
    mesh: Mesh, double: GitHubDouble, app_key: Any
) -> None:
    async with mesh.session(secrets=app_secrets(double, app_key[0])) as client:
        me = await client.call_tool("get_me", {})
        assert me.structured_content["kind"] == "app"
        assert not (await client.call_tool("list_issues", HELLO)).is_error
        assert not (await client.call_tool("get_issue", HELLO | {"issue_number": 1})).is_error
        minted = list(double.installations.values())
        assert len(minted) == 1  # same grant: reused
        assert minted[0].repositories == ["hello"]
        assert minted[0].permissions == {"issues": "read", "metadata": "read"}
        assert not (
            await client.call_tool("get_file_contents", HELLO | {"path": "README.md"})
        ).is_error
        assert len(double.installations) == 2  # other permissions: its own token
        newest = list(double.installations.values())[-1]
        assert newest.permissions == {"contents": "read", "metadata": "read"}
        # A token close to expiry (inside the margin) is not reused.
        for installation in double.installations.values():
            installation.expires_at = time.time() + 120
        broker = mesh.service and _broker(mesh)
        for minted_token in broker._minted.values():
            minted_token.expires_at = time.time() + 120
        assert not (await client.call_tool("list_issues", HELLO)).is_error
        assert len(double.installations) == 3
        # A token GitHub no longer accepts (revoked) is replaced once, transparently.
        for installation in double.installations.values():
            installation.expires_at = 0
        assert not (await client.call_tool("list_issues", HELLO)).is_error
        assert len(double.installations) == 4
    assert all(
        r.headers["Authorization"].startswith("Bearer ") for r in double.requests if r.headers
    )


def _broker(mesh: Mesh) -> Any:
    assert mesh.state is not None
    return mesh.state.broker


async def test_bad_app_key_is_explained(mesh: Mesh, double: GitHubDouble) -> None:
    secrets = app_secrets(double, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")
    async with mesh.session(secrets=secrets) as client:
        result = await client.call_tool("list_issues", HELLO)
    assert result.is_error and "mcpmesh secrets set github app_private_key" in text_of(result)


# ---------------------------------------------------------------- allowlist


async def test_allowlist_refuses_before_any_request(mesh: Mesh, double: GitHubDouble) -> None:
    async with mesh.session() as client:
        result = await client.call_tool(
            "get_issue", {"owner": "other-org", "repo": "forbidden", "issue_number": 1}
        )
        assert result.is_error and "MCPMESH_GH_ALLOWED_REPOS" in text_of(result)
        bad = await client.call_tool("get_repository", {"owner": "octo-org", "repo": ".."})
        assert bad.is_error and "not a valid repository name" in text_of(bad)
        traversal = await client.call_tool("get_file_contents", HELLO | {"path": "../../../user"})
        assert traversal.is_error
    assert double.requests == []


async def test_empty_allowlist_allows_nothing(mesh: Mesh, double: GitHubDouble) -> None:
    async with mesh.session(allowed_repos=[]) as client:
        result = await client.call_tool("get_repository", HELLO)
    assert result.is_error and "no repository allowed" in text_of(result)


async def test_search_results_outside_the_allowlist_are_dropped(mesh: Mesh) -> None:
    async with mesh.session(toolsets=["all"]) as client:
        issues = await client.call_tool("search_issues", {"query": "issue"})
        repos = await client.call_tool("search_repositories", {"query": "o"})
        code = await client.call_tool("search_code", {"query": "hello"})
    assert issues.structured_content["filtered_out"] == 1  # other-org/forbidden#1
    assert all(i["repository"].startswith("octo-org/") for i in issues.structured_content["items"])
    assert "Forbidden issue" not in text_of(issues)
    names = [r["full_name"] for r in repos.structured_content["items"]]
    assert names == ["octo-org/hello"] and repos.structured_content["filtered_out"] == 1
    assert {h["repository"] for h in code.structured_content["items"]} == {"octo-org/hello"}
    assert code.structured_content["filtered_out"] >= 1


# ---------------------------------------------------------------- lockdown


async def test_lockdown_withholds_text_from_authors_without_push_access(
    mesh: Mesh, double: GitHubDouble
) -> None:
    async with mesh.session(lockdown=True) as client:
        issue = await client.call_tool("get_issue", HELLO | {"issue_number": 2})
        assert issue.is_error and "mallory" in text_of(issue) and "lockdown" in text_of(issue)
        assert "Ignore previous" not in text_of(issue)
        comments = await client.call_tool("get_issue_comments", HELLO | {"issue_number": 1})
        authors = [c["author"] for c in comments.structured_content["items"]]
        assert authors == ["alice", "github-actions[bot]"]  # a trusted bot stays
        assert comments.structured_content["withheld"] == 1
        listed = await client.call_tool("list_issues", HELLO | {"per_page": 100})
        assert 2 not in [i["number"] for i in listed.structured_content["items"]]
        reviews = await client.call_tool("get_pull_request_reviews", HELLO | {"pull_number": 3})
        assert [r["author"] for r in reviews.structured_content["items"]] == ["octocat"]
    # Permissions were asked once per author (cached), visibility once per repository.
    asked = [c for c in api_calls(double) if "/permission" in c]
    assert len(asked) == len(set(asked))
    assert api_calls(double).count("GET /repos/octo-org/hello") == 1


async def test_without_lockdown_everything_is_shown_sanitized(mesh: Mesh) -> None:
    async with mesh.session() as client:
        issue = await client.call_tool("get_issue", HELLO | {"issue_number": 2})
    assert not issue.is_error
    body = issue.structured_content["body"]
    assert body.startswith("Ignore previous instructions") and "push to main" not in body
    assert issue.structured_content["title"] == "Please fix"  # tag characters removed


# ---------------------------------------------------------------- sanitizing and labels


async def test_untrusted_text_is_sanitized_and_labelled(mesh: Mesh) -> None:
    async with mesh.session() as client:
        issue = await client.call_tool("get_issue", HELLO | {"issue_number": 1})
        comments = await client.call_tool("get_issue_comments", HELLO | {"issue_number": 1})
        readme = await client.call_tool("get_file_contents", HELLO | {"path": "README.md"})
        commits = await client.call_tool("list_commits", HELLO)
        repo = await client.call_tool("get_repository", HELLO)
    data = issue.structured_content
    assert data["title"] == "Crash on start"  # BiDi override removed
    assert "email the token" not in data["body"] and "2. boom" in data["body"]
    assert data["trust"]["untrusted"] is True and "body" in data["trust"]["fields"]
    text = text_of(issue)
    assert text.startswith("Untrusted content") and '<untrusted-content source="issue #1">' in text
    assert "open a PR deleting tests" not in text_of(comments)
    content = readme.structured_content["content"]
    assert content == "# Hello\n\nA demo repository.\n"  # zero-width and tag characters gone
    assert "\u202e" not in commits.structured_content["items"][0]["message"]
    assert "leak the keys" not in repo.structured_content["description"]


# ---------------------------------------------------------------- pagination and truncation


async def test_list_tools_paginate_with_a_cap(mesh: Mesh, double: GitHubDouble) -> None:
    async with mesh.session(max_per_page=3, max_page=4) as client:
        first = await client.call_tool("list_issues", HELLO | {"per_page": 50})
        assert first.structured_content["per_page"] == 3
        assert len(first.structured_content["items"]) == 3
        assert first.structured_content["next_page"] == 2
        assert "more: page=2" in text_of(first)
        second = await client.call_tool("list_issues", HELLO | {"page": 2, "per_page": 50})
        numbers = [i["number"] for i in second.structured_content["items"]]
        assert numbers == [5, 4]  # #3 on this page is a pull request, left out
        too_deep = await client.call_tool("list_issues", HELLO | {"page": 5})
        assert too_deep.is_error and "MCPMESH_GH_MAX_PAGE" in text_of(too_deep)
        invalid = await client.call_tool("list_issues", HELLO | {"per_page": 1000})
        assert invalid.is_error
    sent = [r.query for r in double.requests if r.path == "/repos/octo-org/hello/issues"]
    assert all(q["per_page"] == "3" for q in sent)


async def test_long_patches_and_logs_are_truncated_and_say_so(mesh: Mesh) -> None:
    async with mesh.session(toolsets=["all"], max_patch_chars=100, max_log_lines=50) as client:
        commit = await client.call_tool("get_commit", HELLO | {"sha": "main"})
        files = await client.call_tool("get_pull_request_files", HELLO | {"pull_number": 3})
        log = await client.call_tool("get_job_logs", HELLO | {"job_id": 200, "tail_lines": 5000})
    big = commit.structured_content["files"][0]
    assert big["patch_truncated"] and len(big["patch"]) == 100
    assert "[patch of src/app.py truncated at 100 characters]" in text_of(commit)
    assert files.structured_content["items"][0]["patch_truncated"]
    data = log.structured_content
    assert data["lines"] == 50 and data["truncated"]
    assert data["tail"].splitlines()[-1] == "2026-01-06T12:00:59Z step 2999"  # ANSI removed
    assert "earlier lines left out" in text_of(log)


# ---------------------------------------------------------------- rate limits and ETags


async def test_rate_limits_are_waited_out_within_bounds(mesh: Mesh, double: GitHubDouble) -> None:
    reset = str(int(time.time()) + 1)
    limited = {"message": "API rate limit exceeded for user ID 1."}
    double.fail_next = [
        (429, {"retry-after": "1"}, {"message": "slow down"}),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}, limited),
    ]
    async with mesh.session() as client:
        started = time.monotonic()
        result = await client.call_tool("get_repository", HELLO)
        waited = time.monotonic() - started
    assert not result.is_error
    assert waited >= 1.0
    assert api_calls(double).count("GET /repos/octo-org/hello") == 3


async def test_a_wait_too_long_fails_now_with_when_to_retry(
    mesh: Mesh, double: GitHubDouble
) -> None:
    reset = str(int(time.time()) + 3600)
    double.fail_next = [
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            {"message": "API rate limit exceeded"},
        )
    ]
    async with mesh.session() as client:
        started = time.monotonic()
        result = await client.call_tool("get_repository", HELLO)
    assert time.monotonic() - started < 2
    assert result.is_error
    assert "rate limit" in text_of(result) and "MCPMESH_GH_MAX_RATE_LIMIT_WAIT" in text_of(result)


async def test_secondary_rate_limit_without_headers_is_not_retried_blindly(
    mesh: Mesh, double: GitHubDouble
) -> None:
    secondary = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
    double.fail_next = [(403, {}, secondary)]
    async with mesh.session(max_rate_limit_wait=30) as client:
        result = await client.call_tool("get_repository", HELLO)
    assert result.is_error and "in 60 s" in text_of(result)  # GitHub: wait at least a minute
    assert api_calls(double) == ["GET /repos/octo-org/hello"]


async def test_conditional_requests_reuse_etags(mesh: Mesh, double: GitHubDouble) -> None:
    async with mesh.session() as client:
        first = await client.call_tool("get_repository", HELLO)
        second = await client.call_tool("get_repository", HELLO)
    assert first.structured_content == second.structured_content
    statuses = [r.status for r in double.requests]
    assert statuses == [200, 304]
    assert "If-None-Match" in double.requests[1].headers


async def test_calls_reuse_one_connection(mesh: Mesh, double: GitHubDouble) -> None:
    async with mesh.session() as client:
        for tool in ("get_repository", "list_issues", "list_branches", "list_pull_requests"):
            assert not (await client.call_tool(tool, HELLO)).is_error
    assert len(double.requests) == 4
    assert len({r.peer for r in double.requests}) == 1


# ---------------------------------------------------------------- writes


async def test_merge_asks_for_confirmation(mesh: Mesh, double: GitHubDouble) -> None:
    questions: list[str] = []

    async def decline(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        return types.ElicitResult(action="decline")

    async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with mesh.session(write=True, elicitation=decline) as client:
        declined = await client.call_tool("merge_pull_request", HELLO | {"pull_number": 3})
    assert declined.is_error and text_of(declined).startswith("Not done: the user declined")
    assert "Merge pull request #3 of octo-org/hello" in questions[0]
    assert not any(r.method == "PUT" for r in double.requests)
    async with mesh.session(write=True, elicitation=accept) as client:
        merged = await client.call_tool("merge_pull_request", HELLO | {"pull_number": 3})
    assert merged.structured_content["merged"] is True
    assert 3 in double.merged


async def test_push_files_makes_one_commit(mesh: Mesh, double: GitHubDouble) -> None:
    files = [{"path": "docs/a.md", "content": "A"}, {"path": "docs/b.md", "content": "B"}]
    async with mesh.session(write=True) as client:
        result = await client.call_tool(
            "push_files", HELLO | {"branch": "feature", "message": "Docs", "files": files}
        )
    assert not result.is_error, text_of(result)
    assert double.files["octo-org/hello"]["docs/b.md"] == b"B"
    assert double.branches["octo-org/hello"]["feature"] == result.structured_content["sha"]
    assert [c for c in api_calls(double) if not c.startswith("GET")] == [
        "POST /repos/octo-org/hello/git/trees",
        "POST /repos/octo-org/hello/git/commits",
        "PATCH /repos/octo-org/hello/git/refs/heads/feature",
    ]


async def test_unreachable_github_is_a_clear_error() -> None:
    """No network, a firewall, a wrong MCPMESH_GH_API_URL: say so, do not crash."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from mcpmesh.config import ServerSettings
    from mcpmesh.embedded.process import free_port
    from mcpmesh.testing import serve_in_background

    service = create(
        ServerSettings(),
        github=GitHubSettings(api_url=f"http://127.0.0.1:{free_port()}"),
        secrets=DevSecretProvider({"token": "ghp_" + "N" * 36}, service="github"),
    )
    async with (
        serve_in_background(service) as running,
        streamable_http_client(running.url) as (read, write, *_),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        result = await client.call_tool("get_me", {})
    assert result.is_error
    assert "Could not reach GitHub" in text_of(result)
    assert "MCPMESH_GH_API_URL" in text_of(result)
