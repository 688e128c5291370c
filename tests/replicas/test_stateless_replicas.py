"""The 2026-07-28 wire across replicas: nothing is shared but the seal key and the bus."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from mcpmesh.testing import StatelessClient, read_sse

Mesh = Any  # the `mesh` fixture (tests/replicas/conftest.py)


async def test_a_listen_stream_hears_a_change_made_on_another_replica(mesh: Mesh) -> None:
    a, b = (replica.base + "/mcp" for replica in mesh.replicas[:2])
    async with aiohttp.ClientSession() as http:
        listener = StatelessClient(http, a)
        listen = await listener.post(
            "subscriptions/listen", {"notifications": {"toolsListChanged": True}}
        )
        stream = read_sse(listen)
        assert (await anext(stream)).json()["method"] == "notifications/subscriptions/acknowledged"
        changed = await StatelessClient(http, b).call(
            "tools/call", {"name": "test_trigger_tool_change"}
        )
        assert changed["result"]["resultType"] == "complete"
        notice = (await asyncio.wait_for(anext(stream), 10)).json()
        assert notice["method"] == "notifications/tools/list_changed"
        assert (
            notice["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listener.next_id
        )
        listen.close()


async def test_an_mrtr_retry_is_served_by_another_replica(mesh: Mesh) -> None:
    a, b = (replica.base + "/mcp" for replica in mesh.replicas[:2])
    call = {"name": "test_input_required_result_elicitation", "arguments": {}}
    async with aiohttp.ClientSession() as http:
        first = await StatelessClient(http, a, {"elicitation": {}}).call("tools/call", call)
        state = first["result"]["requestState"]
        retry = {
            **call,
            "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Ada"}}},
            "requestState": state,
        }
        second = await StatelessClient(http, b, {"elicitation": {}}).call("tools/call", retry)
    assert second["result"]["content"][0]["text"] == "Hello, Ada!"
