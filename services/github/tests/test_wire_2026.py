"""The github service through the official SDK on the 2026-07-28 stateless wire."""

from __future__ import annotations

from conftest import Mesh
from github_double import GitHubDouble

from mcpmesh.testing import text_of

HELLO = {"owner": "octo-org", "repo": "hello"}


async def test_reads_on_the_2026_wire(mesh: Mesh, double: GitHubDouble) -> None:
    async with mesh.session(modern=True) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert "get_repository" in tools
        result = await client.call_tool("get_repository", HELLO)
    assert not result.is_error, text_of(result)
    assert "octo-org/hello" in text_of(result)
