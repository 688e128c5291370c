"""The GitHub double is checked against GitHub's official REST API description.

npm ``@octokit/openapi`` ships ``generated/api.github.com.json`` (OpenAPI 3.0). It is
installed into ``.cache/octokit-openapi`` on first use (never globally). Every tool is
run through the official MCP client against the double, with a token and with a GitHub
App; then every request the service sent must match a documented operation (method,
path, only documented query parameters, a valid body) and every response the double
gave must validate against that operation's documented response schema.

Validator: openapi-core, because it implements OpenAPI 3.0 semantics that a bare JSON
Schema validator gets wrong (``nullable``, path templating, parameter styles and
per-status, per-media-type responses) and validates requests and responses alike.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import Mesh, app_secrets
from github_double import GitHubDouble, Recorded
from mcp import types

from mcpmesh_github.registry import CATALOGUE

OCTOKIT_OPENAPI = "@octokit/openapi@23.0.2"
ROOT = Path(__file__).resolve().parents[3]
PREFIX = ROOT / ".cache" / "octokit-openapi"
DESCRIPTION = PREFIX / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
HOST = "https://api.github.com"
#: Path parameters that may span '/' (GitHub documents them as such).
SLASHY = {"path", "ref"}


@cache
def _description() -> dict[str, Any] | str:
    """The description, or why it is unavailable."""
    if not DESCRIPTION.exists():
        npm = shutil.which("npm")
        if npm is None:
            return "npm is not installed, so @octokit/openapi cannot be fetched"
        done = subprocess.run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
                str(PREFIX),
                OCTOKIT_OPENAPI,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0 or not DESCRIPTION.exists():
            return f"npm could not install {OCTOKIT_OPENAPI}: {done.stderr.strip()[-300:]}"
    return _drop_array_discriminators(json.loads(DESCRIPTION.read_text()))


def _drop_array_discriminators(node: Any) -> Any:
    """GitHub's description puts a ``type`` discriminator on "content is a file or a
    directory", where the directory is an array, which has no ``type`` property: no
    array could ever validate. Without the discriminator, ``oneOf`` still demands that
    exactly one of the documented shapes matches."""
    if isinstance(node, dict):
        mapping = (node.get("discriminator") or {}).get("mapping") or {}
        if "array" in mapping:
            del node["discriminator"]
        for value in node.values():
            _drop_array_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _drop_array_discriminators(value)
    return node


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    spec = _description()
    if isinstance(spec, str):
        pytest.skip(spec)
    return spec


@pytest.fixture(scope="module")
def openapi(description: dict[str, Any]) -> Any:
    from openapi_core import Config, OpenAPI

    # The description itself is GitHub's; validating it would take long and test nothing of ours.
    return OpenAPI.from_dict(description, config=Config(spec_validator_cls=None))


@cache
def _matcher(template: str) -> tuple[re.Pattern[str], list[str]]:
    names = re.findall(r"\{([^}]+)\}", template)

    def group(match: re.Match[str]) -> str:
        if match.group(1) == "path":
            # May be empty: "contents/" lists the root, as GitHub's own clients request it.
            return "(.*)"
        return "(.+)" if match.group(1) in SLASHY else "([^/]+)"

    return re.compile("^" + re.sub(r"\{([^}]+)\}", group, template) + "$"), names


def find_operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, str]]:
    """The documented template for a concrete path (literal segments win over params)."""
    candidates = []
    for template, item in spec["paths"].items():
        if method.lower() not in item:
            continue
        pattern, names = _matcher(template)
        found = pattern.match(path)
        if found:
            candidates.append((len(names), template, dict(zip(names, found.groups(), strict=True))))
    if not candidates:
        raise AssertionError(f"{method} {path} is not a documented GitHub REST operation")
    _, template, params = min(candidates)
    return template, params


def _declared_query(spec: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    names = set()
    for param in operation.get("parameters", []):
        if "$ref" in param:
            param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[-1]]
        if param["in"] == "query":
            names.add(param["name"])
    return names


def check_exchange(spec: dict[str, Any], openapi: Any, record: Recorded) -> str:
    from openapi_core.testing import MockRequest, MockResponse

    template, params = find_operation(spec, record.method, record.path)
    operation = spec["paths"][template][record.method.lower()]
    undeclared = set(record.query) - _declared_query(spec, operation)
    assert not undeclared, f"{record.method} {template}: undocumented query parameters {undeclared}"
    request = MockRequest(
        HOST,
        record.method.lower(),
        record.path,
        path_pattern=template,
        view_args=params,
        args=record.query,
        headers={k.lower(): v for k, v in record.headers.items()},
        data=record.body or None,
        content_type="application/json" if record.body else "",
    )
    openapi.validate_request(request)
    conditional = record.status == 304 and "If-None-Match" in record.headers
    # 304 answers a conditional GET on any endpoint (GitHub's "best practices: use
    # conditional requests"); the per-operation status lists do not all repeat it.
    assert conditional or str(record.status) in operation["responses"], (
        f"{record.method} {template} answered {record.status}, not a documented status"
    )
    accept = record.headers.get("Accept", "")
    if accept.startswith("application/vnd.github.") and accept != "application/vnd.github+json":
        # Custom media types (diff, patch) are documented in the operation's prose.
        assert accept in operation.get("description", ""), f"{accept} undocumented for {template}"
        assert record.response_type == accept
        return f"{record.method} {template}"
    if record.response_body:
        response = MockResponse(
            record.response_body, status_code=record.status, content_type=record.response_type
        )
        try:
            openapi.validate_response(request, response)
        except Exception as exc:
            errors = getattr(exc.__cause__, "schema_errors", None) or []
            details = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors]
            for error in errors:
                details += [
                    f"  {list(c.absolute_path)}: {c.message[:200]}" for c in error.context[:8]
                ]
            raise AssertionError(f"{record.method} {template} {record.status}: {details}") from exc
    return f"{record.method} {template}"


async def _exercise_every_tool(mesh: Mesh, **session: Any) -> None:
    async def accept(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    hello = {"owner": "octo-org", "repo": "hello"}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_me", {}),
        ("search_repositories", {"query": "hello"}),
        ("get_repository", hello),
        ("get_file_contents", hello | {"path": "src/app.py", "ref": "main"}),
        ("get_file_contents", hello | {"path": ""}),
        ("list_branches", hello),
        ("list_commits", hello | {"sha": "main", "path": "src", "per_page": 2}),
        ("get_commit", hello | {"sha": "main"}),
        ("list_releases", hello),
        ("create_branch", hello | {"branch": "topic"}),
        (
            "create_or_update_file",
            hello
            | {"path": "docs/new.md", "content": "# New", "message": "Add docs", "branch": "topic"},
        ),
        (
            "push_files",
            hello
            | {
                "branch": "topic",
                "message": "Two files",
                "files": [{"path": "a.txt", "content": "a"}, {"path": "b/c.txt", "content": "c"}],
            },
        ),
        (
            "list_issues",
            hello
            | {
                "state": "all",
                "labels": ["bug"],
                "per_page": 2,
                "page": 2,
                "since": "2026-01-01T00:00:00Z",
            },
        ),
        ("get_issue", hello | {"issue_number": 1}),
        ("get_issue_comments", hello | {"issue_number": 1}),
        ("search_issues", {"query": "crash", "sort": "created", "order": "desc"}),
        ("create_issue", hello | {"title": "New bug", "body": "Details", "labels": ["bug"]}),
        ("update_issue", hello | {"issue_number": 1, "state": "closed"}),
        ("add_issue_comment", hello | {"issue_number": 1, "body": "Thanks!"}),
        ("list_pull_requests", hello | {"state": "open", "base": "main"}),
        ("get_pull_request", hello | {"pull_number": 3}),
        ("get_pull_request_diff", hello | {"pull_number": 3}),
        ("get_pull_request_files", hello | {"pull_number": 3}),
        ("get_pull_request_reviews", hello | {"pull_number": 3}),
        (
            "create_pull_request",
            hello | {"title": "Docs", "head": "topic", "base": "main", "body": "Adds docs"},
        ),
        (
            "create_pull_request_review",
            hello | {"pull_number": 3, "event": "COMMENT", "body": "ok"},
        ),
        ("merge_pull_request", hello | {"pull_number": 3, "merge_method": "squash"}),
        ("search_code", {"query": "hello"}),
        ("search_users", {"query": "octo"}),
        ("list_workflow_runs", hello | {"branch": "main", "status": "completed"}),
        ("get_workflow_run", hello | {"run_id": 100}),
        ("get_job_logs", hello | {"job_id": 200, "tail_lines": 5}),
    ]
    # Every tool of the catalogue runs, so every operation the service uses is checked.
    assert {name for name, _ in calls} == set(CATALOGUE)
    async with mesh.session(
        toolsets=["all"], write=True, lockdown=True, elicitation=accept, **session
    ) as client:
        for name, arguments in calls:
            result = await client.call_tool(name, arguments)
            assert not result.is_error, (name, result.content)


async def test_every_request_and_response_matches_githubs_openapi_description(
    mesh: Mesh, double: GitHubDouble, description: dict[str, Any], openapi: Any, app_key: Any
) -> None:
    await _exercise_every_tool(mesh)
    double.reset_data()
    await _exercise_every_tool(mesh, secrets=app_secrets(double, app_key[0]))
    covered = {check_exchange(description, openapi, record) for record in double.requests}
    # Every route the double serves was used and is documented (the blob store is not the API).
    assert len(covered) == 38, sorted(covered)
    assert "POST /app/installations/{installation_id}/access_tokens" in covered
    assert "GET /repos/{owner}/{repo}/collaborators/{username}/permission" in covered


async def test_the_check_catches_an_invalid_response(
    double: GitHubDouble, description: dict[str, Any], openapi: Any
) -> None:
    """The validation above can fail: a response missing required fields is rejected."""
    record = Recorded(
        "GET", "/repos/octo-org/hello/issues/1", {}, {"Accept": "application/json"}, b""
    )
    record.status, record.response_type = 200, "application/json"
    record.response_body = json.dumps({"id": 1, "title": "no other field"}).encode()
    with pytest.raises(AssertionError, match="'user' is a required property"):
        check_exchange(description, openapi, record)
    record.response_body = b""
    record.path = "/repos/octo-org/hello/issuez/1"
    with pytest.raises(AssertionError, match="not a documented"):
        check_exchange(description, openapi, record)
    record.path, record.query = "/repos/octo-org/hello/issues/1", {"bogus": "1"}
    with pytest.raises(AssertionError, match="undocumented query"):
        check_exchange(description, openapi, record)
