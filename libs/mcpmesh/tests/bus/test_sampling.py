"""The sampling broker over a real NATS, against the local LLM double (OpenAI chat
completions and the Anthropic Messages API), and the policy: max-tokens cap, rate limit
per principal shared by replicas, clear refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from mcpmesh import Context, Service
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.testing import RawClient, StatelessClient


class Ask(msgspec.Struct):
    prompt: str
    max_tokens: int = 50


def build() -> Service:
    service = Service("sampling-test", version="0")

    @service.tool()
    async def ask(ctx: Context, args: Ask) -> str:
        reply = await ctx.sample(args.prompt, max_tokens=args.max_tokens, system_prompt="Be brief.")
        return f"{reply.model}: {reply.text} ({reply.stop_reason})"

    return service


async def call(client: RawClient, prompt: str, max_tokens: int = 50) -> dict[str, Any]:
    answer = await client.call(
        "tools/call", {"name": "ask", "arguments": {"prompt": prompt, "max_tokens": max_tokens}}
    )
    return answer["result"]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_broker_answers_for_a_client_that_cannot_sample(
    api: str, bus_settings: BusSettings, replica: Any, llm: Any, llm_key_file: str, tmp_path: Path
) -> None:
    broker = SamplingSettings(
        llm_api=api,
        llm_url=llm.url,
        llm_model="m-1",
        llm_api_key_file=llm_key_file,
        max_tokens=20,
    )
    no_broker = SamplingSettings(broker=False, max_tokens=20)
    # The tool runs on a replica without a backend; the broker lives in another one.
    async with (
        replica(build(), bus_settings, no_broker) as a,
        replica(build(), bus_settings, broker),
        aiohttp.ClientSession() as http,
    ):
        client = RawClient(http, a.url)
        await client.initialize()  # no sampling capability
        result = await call(client, "hello there", max_tokens=5000)
        assert not result.get("isError"), result
        assert result["content"][0]["text"] == "m-1: echo: hello there (endTurn)"
    seen = llm.openai if api == "openai" else llm.anthropic
    assert len(seen) == 1
    request = seen[0]
    # maxTokens capped by policy, system prompt carried the documented way.
    if api == "openai":
        assert request.max_completion_tokens == 20
        assert request.messages[0].role == "system"
    else:
        assert request.max_tokens == 20 and request.system == "Be brief."


async def test_no_broker_is_a_clear_refusal(bus_settings: BusSettings, replica: Any) -> None:
    async with (
        replica(build(), bus_settings, SamplingSettings(broker=False)) as a,
        aiohttp.ClientSession() as http,
    ):
        client = RawClient(http, a.url)
        await client.initialize()
        result = await call(client, "anyone?")
        assert result["isError"]
        assert "no sampling broker is running" in result["content"][0]["text"]
        assert "MCPMESH_SAMPLING_LLM_URL" in result["content"][0]["text"]


async def test_rate_limit_per_principal_is_shared_by_replicas(
    bus_settings: BusSettings, replica: Any, llm: Any, llm_key_file: str, tmp_path: Path
) -> None:
    sampling = SamplingSettings(
        llm_url=llm.url,
        llm_model="m",
        llm_api_key_file=llm_key_file,
        rate_limit=2,
        rate_window=60,
    )
    async with (
        replica(build(), bus_settings, sampling) as a,
        replica(build(), bus_settings, sampling) as b,
        aiohttp.ClientSession() as http,
    ):
        one = RawClient(http, a.url)
        await one.initialize()
        on_b = RawClient(http, b.url)
        on_b.session_id = one.session_id
        assert not (await call(one, "1")).get("isError")
        assert not (await call(on_b, "2")).get("isError")
        third = await call(one, "3")
        assert third["isError"]
        assert "rate limit" in third["content"][0]["text"].lower()
        # Another session (no principal: limited per session) is not affected.
        other = RawClient(http, b.url)
        await other.initialize()
        assert not (await call(other, "4")).get("isError")
    assert len(llm.openai) == 3


async def test_wrong_api_key_is_refused_without_leaking_it(
    bus_settings: BusSettings, replica: Any, llm: Any, llm_key_file: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("sk-wrong-secret")
    sampling = SamplingSettings(llm_url=llm.url, llm_model="m", llm_api_key_file=str(bad))
    async with replica(build(), bus_settings, sampling) as a, aiohttp.ClientSession() as http:
        client = RawClient(http, a.url)
        await client.initialize()
        result = await call(client, "x")
        assert result["isError"]
        text = result["content"][0]["text"]
        assert "HTTP 401" in text and "sk-wrong-secret" not in text


async def test_on_the_2026_wire_a_client_that_cannot_sample_still_reaches_the_broker(
    bus_settings: BusSettings, replica: Any, llm: Any, llm_key_file: str
) -> None:
    broker = SamplingSettings(
        llm_url=llm.url, llm_model="m-1", llm_api_key_file=llm_key_file, max_tokens=20
    )
    async with (
        replica(build(), bus_settings, SamplingSettings(broker=False)) as a,
        replica(build(), bus_settings, broker),
        aiohttp.ClientSession() as http,
    ):
        modern = StatelessClient(http, a.url)  # declares no sampling capability
        call = {"name": "ask", "arguments": {"prompt": "hello there"}}
        answered = (await modern.call("tools/call", call))["result"]
        assert answered["resultType"] == "complete"
        assert answered["content"][0]["text"] == "m-1: echo: hello there (endTurn)"
    # With no broker anywhere, the question goes to the client: -32021 without the capability.
    async with (
        replica(build(), bus_settings, SamplingSettings(broker=False)) as alone,
        aiohttp.ClientSession() as http,
    ):
        response = await StatelessClient(http, alone.url).post("tools/call", call)
        body = await response.json()
        assert response.status == 400 and body["error"]["code"] == -32021
        assert body["error"]["data"]["requiredCapabilities"] == {"sampling": {}}
    assert len(llm.openai) == 1
