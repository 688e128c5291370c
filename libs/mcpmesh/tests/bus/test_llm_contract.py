"""The LLM double and the sampling broker's requests, checked against the official
``openai`` and ``anthropic`` SDKs (generated from the providers' API descriptions): every
field the broker sends is a documented request parameter with a valid value, and every
answer the double gives parses as the documented response or error object."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from anthropic.types import Message
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.shared import ErrorObject
from pydantic import TypeAdapter

from mcpmesh.bus.policy import AnthropicMessages, LlmBackend, OpenAiChat
from mcpmesh.bus.settings import SamplingSettings
from mcpmesh.protocol.types import CreateMessageParams, SamplingMessage, TextContent

from .conftest import API_KEY, LlmDouble

PARAMS = CreateMessageParams(
    messages=[
        SamplingMessage(role="user", content=TextContent("What is 2+2?")),
        SamplingMessage(role="assistant", content=TextContent("Four.")),
        SamplingMessage(role="user", content=TextContent("And 3+3?")),
    ],
    max_tokens=64,
    system_prompt="Answer briefly.",
    temperature=0.5,
    stop_sequences=["END"],
)

CASES = [
    pytest.param(
        OpenAiChat,
        "openai",
        CompletionCreateParamsNonStreaming,
        ChatCompletion,
        "/chat/completions",
        id="openai",
    ),
    pytest.param(
        AnthropicMessages,
        "anthropic",
        MessageCreateParamsNonStreaming,
        Message,
        "/messages",
        id="anthropic",
    ),
]


def backend_for(kind: type[LlmBackend], api: str, double: LlmDouble, key_file: Path) -> LlmBackend:
    key_file.write_text(API_KEY)
    settings = SamplingSettings(
        llm_api=api, llm_url=double.url, llm_model="model-x", llm_api_key_file=str(key_file)
    )  # type: ignore[arg-type]
    return kind(settings)


@pytest.mark.parametrize(("kind", "api", "request_type", "response_type", "path"), CASES)
async def test_requests_and_answers_match_the_official_sdk(
    llm: LlmDouble,
    tmp_path: Path,
    kind: type[LlmBackend],
    api: str,
    request_type: Any,
    response_type: Any,
    path: str,
) -> None:
    backend = backend_for(kind, api, llm, tmp_path / "key")
    body = backend.request_body(PARAMS)
    documented = set(typing.get_type_hints(request_type))
    assert set(body) <= documented, f"undocumented request fields: {set(body) - documented}"
    TypeAdapter(request_type).validate_python(body)

    headers = (
        {"Authorization": f"Bearer {API_KEY}"}
        if api == "openai"
        else {"x-api-key": API_KEY, "anthropic-version": AnthropicMessages.VERSION}
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(llm.url + path, json=body, headers=headers) as reply,
    ):
        assert reply.status == 200
        parsed = response_type.model_validate(await reply.json())
    assert parsed.model == "model-x"

    result = await backend.complete(PARAMS)
    await backend.close()
    assert result.model == "model-x"
    assert result.text == "echo: And 3+3?"


async def test_error_answers_match_the_official_shapes(llm: LlmDouble) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            llm.url + "/chat/completions", json={}, headers={"Authorization": "Bearer wrong"}
        ) as reply:
            assert reply.status == 401
            ErrorObject.model_validate((await reply.json())["error"])
        async with http.post(
            llm.url + "/messages", json={}, headers={"x-api-key": "wrong"}
        ) as reply:
            assert reply.status == 401
            body = await reply.json()
            assert body["type"] == "error"
            from anthropic.types import ErrorResponse

            ErrorResponse.model_validate(body)


def test_non_text_content_is_refused_clearly(tmp_path: Path) -> None:
    """The broker relays text only; an image gets a refusal that says so."""
    from mcpmesh.bus.policy import LlmError
    from mcpmesh.protocol.types import ImageContent

    params = CreateMessageParams(
        messages=[
            SamplingMessage(role="user", content=ImageContent(data="aGk=", mime_type="image/png"))
        ],
        max_tokens=10,
    )
    backend = OpenAiChat(SamplingSettings(llm_url="http://127.0.0.1:9", llm_model="m"))
    with pytest.raises(LlmError, match="only relays text; this request has image content"):
        backend.request_body(params)
