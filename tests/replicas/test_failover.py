"""Sessions across replicas, driven request by request at chosen replicas (separate
processes sharing one nats-server): the replica that served a session dies and the
session goes on; answers and DELETEs land on other replicas than the one concerned."""

from __future__ import annotations

from typing import Any as Mesh  # the `mesh` fixture (tests/replicas/conftest.py)

import aiohttp

from mcpmesh.testing import RawClient, eventually, read_sse


def client_at(http: aiohttp.ClientSession, base: str, session_id: str | None) -> RawClient:
    client = RawClient(http, base + "/mcp")
    client.session_id = session_id
    return client


async def test_elicitation_answer_routed_and_delete_ends_session_everywhere(mesh: Mesh) -> None:
    a, b, c = (r.base for r in mesh.replicas)
    async with aiohttp.ClientSession() as http:
        first = client_at(http, a, None)
        await first.initialize({"elicitation": {}})
        sid = first.session_id
        # The tool runs on B and asks the user; the answer is POSTed to C.
        on_b = client_at(http, b, sid)
        response = await on_b.post(
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "test_elicitation", "arguments": {"message": "Who?"}},
            }
        )
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = read_sse(response)
        request = None
        async for event in events:
            if event.data:
                request = event.json()
                break
        assert request is not None and request["method"] == "elicitation/create"
        answer = {
            "jsonrpc": "2.0",
            "id": request["id"],
            "result": {"action": "accept", "content": {"username": "ann", "email": "a@x.org"}},
        }
        routed = await client_at(http, c, sid).post(answer)
        assert routed.status == 202, await routed.text()
        result = None
        async for event in events:
            if event.data and event.json().get("id") == 7:
                result = event.json()["result"]
                break
        assert result is not None
        assert "action=accept" in result["content"][0]["text"]
        assert '"username": "ann"' in result["content"][0]["text"]
        # A second answer to the same request is refused wherever it lands.
        again = await client_at(http, a, sid).post(answer)
        assert again.status == 400
        # DELETE on A ends it on A, B and C.
        deleted = await http.delete(a + "/mcp", headers=first.headers())
        assert deleted.status == 204

        async def gone_everywhere() -> bool:
            for base in (a, b, c):
                ping = await client_at(http, base, sid).post(
                    {"jsonrpc": "2.0", "id": 9, "method": "ping"}
                )
                assert ping.status == 404, base
            return True

        await eventually(gone_everywhere, message="the session outlived its DELETE")


async def test_session_survives_the_replica_that_served_it(mesh: Mesh) -> None:
    doomed = mesh.replicas[0]
    async with aiohttp.ClientSession() as http:
        client = client_at(http, doomed.base, None)
        await client.initialize()
        sid = client.session_id
        level = await client.call("logging/setLevel", {"level": "warning"})
        assert level["result"] == {}
        first = await client.call("tools/call", {"name": "test_simple_text", "arguments": {}})
        assert "simple text" in first["result"]["content"][0]["text"]
        doomed.kill()
        # The rest goes through the round-robin proxy, which skips the dead replica.
        through = client_at(http, mesh.proxy.url.removesuffix("/mcp"), sid)
        for _ in range(6):
            answer = await through.call("tools/call", {"name": "test_simple_text", "arguments": {}})
            assert "simple text" in answer["result"]["content"][0]["text"]
        tools = await through.call("tools/list")
        assert any(t["name"] == "test_sampling" for t in tools["result"]["tools"])
        used = {backend for _, s, backend in mesh.proxy.served if s == sid}
        assert used == {r.base for r in mesh.replicas[1:]}, used
        # The log level set on the dead replica still holds: info logs are not sent.
        response = await through.post(
            {
                "jsonrpc": "2.0",
                "id": 99,
                "method": "tools/call",
                "params": {"name": "test_tool_with_logging", "arguments": {}},
            }
        )
        body = await response.text()
        assert "Logging test completed" in body
        assert "notifications/message" not in body
