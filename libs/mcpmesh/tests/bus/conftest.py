"""A local double of the two LLM HTTP APIs the sampling broker calls.

Requests are decoded into Structs that allow only the documented fields, with their
documented types and ranges, and refused with the API's error shape otherwise; answers
have the documented response objects. Sources (API references):

* OpenAI ``POST /v1/chat/completions`` — request: ``model``, ``messages`` (``role`` one of
  system/developer/user/assistant/tool, ``content`` string), ``max_completion_tokens``,
  ``temperature`` 0-2, ``stop`` (a string or up to 4 strings); ``Authorization: Bearer``.
  Response: ``chat.completion`` object with ``id``, ``object``, ``created``, ``model``,
  ``choices[{index, message{role, content, refusal}, logprobs, finish_reason}]``, ``usage``.
* Anthropic ``POST /v1/messages`` — headers ``x-api-key`` and ``anthropic-version``
  (2026-10-21, which refuses the removed sampling parameters ``temperature``, ``top_p``,
  ``top_k``); request: ``model``, ``max_tokens`` (required, ≥1), ``messages`` (``role``
  user/assistant), ``system``, ``stop_sequences``. Response: ``{id, type: "message",
  role: "assistant", content: [{type: "text", text}], model, stop_reason, stop_sequence,
  usage{input_tokens, output_tokens}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pytest
from aiohttp import web

from mcpmesh.app import ENDPOINT_KEY, MCP_PATH, bind_socket, create_app
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.embedded.nats import NatsServer, start_nats
from mcpmesh.embedded.process import free_port
from mcpmesh.guard.sealing import SealSettings, write_key_file
from mcpmesh.server.service import Service
from mcpmesh.testing import RunningService

API_KEY = "sk-test-double-key"


class OpenAiMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str


class OpenAiRequest(msgspec.Struct, forbid_unknown_fields=True):
    model: str
    messages: Annotated[list[OpenAiMessage], msgspec.Meta(min_length=1)]
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None


class AnthropicMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant"]
    content: str


class AnthropicRequest(msgspec.Struct, forbid_unknown_fields=True):
    model: str
    max_tokens: Annotated[int, msgspec.Meta(ge=1)]
    messages: Annotated[list[AnthropicMessage], msgspec.Meta(min_length=1)]
    system: str | None = None
    stop_sequences: list[str] | None = None


class LlmDouble:
    def __init__(self) -> None:
        self.openai: list[OpenAiRequest] = []
        self.anthropic: list[AnthropicRequest] = []
        self.url = ""

    @staticmethod
    def _openai_error(status: int, message: str) -> web.Response:
        body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        return web.json_response(body, status=status)

    async def chat_completions(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._openai_error(401, "Incorrect API key provided")
        try:
            body = msgspec.json.decode(await request.read(), type=OpenAiRequest)
        except msgspec.ValidationError as exc:
            return self._openai_error(400, str(exc))
        self.openai.append(body)
        text = f"echo: {body.messages[-1].content}"
        return web.json_response(
            {
                "id": "chatcmpl-double-1",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            }
        )

    async def messages(self, request: web.Request) -> web.Response:
        def error(status: int, kind: str, message: str) -> web.Response:
            body = {"type": "error", "error": {"type": kind, "message": message}}
            return web.json_response(body, status=status)

        if request.headers.get("x-api-key") != API_KEY:
            return error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error(400, "invalid_request_error", "anthropic-version header is required")
        try:
            body = msgspec.json.decode(await request.read(), type=AnthropicRequest)
        except msgspec.ValidationError as exc:
            return error(400, "invalid_request_error", str(exc))
        self.anthropic.append(body)
        return web.json_response(
            {
                "id": "msg_double_1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": f"echo: {body.messages[-1].content}"}],
                "model": body.model,
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 3},
            }
        )


@contextlib.asynccontextmanager
async def serve_llm_double() -> AsyncIterator[LlmDouble]:
    double = LlmDouble()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", double.chat_completions)
    app.router.add_post("/v1/messages", double.messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    double.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield double
    finally:
        await runner.cleanup()


# ------------------------------------------------------------ NATS and replicas


_prefixes = itertools.count()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on a free port (never the machine's 4222)."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(start_nats(tmp_path_factory.mktemp("nats")))
    yield server
    loop.run_until_complete(server.stop())
    loop.close()


@pytest.fixture
def bus_settings(nats_server: NatsServer) -> BusSettings:
    """Bus settings with a prefix of its own, so tests share the server but nothing else."""
    return BusSettings(url=nats_server.url, prefix=f"t{next(_prefixes)}", request_timeout=2.0)


class Replica(RunningService):
    @property
    def bus(self):
        return self.endpoint.cluster


@contextlib.asynccontextmanager
async def run_replica(
    service: Service,
    bus: BusSettings,
    sampling: SamplingSettings | None = None,
    *,
    seal: SealSettings,
) -> AsyncIterator[Replica]:
    """One replica of ``service`` on the real aiohttp stack, wired to the bus (replicas
    share the requestState key ring, as a deployment's must)."""
    app = create_app(service, bus=bus, sampling=sampling or SamplingSettings(), seal=seal)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    sock = bind_socket("127.0.0.1", 0)
    await web.SockSite(runner, sock).start()
    port = sock.getsockname()[1]
    try:
        yield Replica(f"http://localhost:{port}{MCP_PATH}", app, service)
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
def seal_settings(tmp_path_factory: pytest.TempPathFactory) -> SealSettings:
    """One key ring for every replica of the run."""
    return SealSettings(key_file=str(write_key_file(tmp_path_factory.mktemp("seal") / "ring")))


@pytest.fixture
def replica(
    seal_settings: SealSettings,
) -> Callable[..., contextlib.AbstractAsyncContextManager[Replica]]:
    return functools.partial(run_replica, seal=seal_settings)


__all__ = ["ENDPOINT_KEY", "Path"]


@pytest.fixture
async def llm() -> AsyncIterator[LlmDouble]:
    """The LLM API double (OpenAI chat completions and Anthropic Messages) on a free port."""
    async with serve_llm_double() as double:
        yield double


@pytest.fixture
def llm_key_file(tmp_path: Path) -> str:
    """A file holding the double's API key, as the broker reads it."""
    path = tmp_path / "llm.key"
    path.write_text(API_KEY + "\n")
    return str(path)
