"""The MRTR re-run model end to end, without HTTP: handlers shaped like the conformance
fixture's 2026 tools, driven round by round as a 2026 client would drive them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from mcpmesh.guard.sealing import KeyRing, StateSealer, request_digest
from mcpmesh.protocol.errors import INVALID_PARAMS, MISSING_REQUIRED_CLIENT_CAPABILITY, McpError
from mcpmesh.protocol.types import (
    ClientCapabilities,
    CreateMessageParams,
    CreateMessageResult,
    ElicitationCapability,
    ElicitParams,
    ElicitResult,
    ListRootsResult,
    RootsCapability,
    SamplingCapability,
    SamplingMessage,
    TextContent,
)
from mcpmesh.protocol.v2026 import (
    ElicitInput,
    InputRequiredResult,
    RootsInput,
    SamplingInput,
    decode_envelope,
)
from mcpmesh.server.mrtr import AnswerBook, Outcome, attempt, input_required, open_book

Handler = Callable[[AnswerBook], Awaitable[str]]
ALL = ClientCapabilities(
    elicitation=ElicitationCapability(),
    sampling=SamplingCapability(),
    roots=RootsCapability(list_changed=True),
)
ALICE, BOB = "a" * 64, "b" * 64
SEALER = StateSealer(KeyRing.ephemeral(), ttl=60)


def question(message: str, field: str) -> ElicitInput:
    schema = {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}
    return ElicitInput(params=ElicitParams(message=message, requested_schema=schema))


def accept(**content: Any) -> dict[str, Any]:
    return {"action": "accept", "content": content}


async def elicitation_tool(book: AnswerBook) -> str:
    answer = await book.ask(question("What is your name?", "name"), ElicitResult, key="user_name")
    return f"Hello, {(answer.content or {})['name']}!"


async def multi_round_tool(book: AnswerBook) -> str:
    name = await book.ask(question("Step 1: What is your name?", "name"), ElicitResult, key="step1")
    color = await book.ask(question("Step 2: Favorite color?", "color"), ElicitResult, key="step2")
    return f"{(name.content or {})['name']} likes {(color.content or {})['color']}"


async def multiple_inputs_tool(book: AnswerBook) -> str:
    sampling = SamplingInput(
        params=CreateMessageParams(
            messages=[SamplingMessage(role="user", content=TextContent("Generate a greeting"))],
            max_tokens=50,
        )
    )
    name, greeting, roots = await asyncio.gather(
        book.ask(question("What is your name?", "name"), ElicitResult, key="user_name"),
        book.ask(sampling, CreateMessageResult, key="greeting"),
        book.ask(RootsInput(), ListRootsResult, key="client_roots"),
    )
    return f"{greeting.text} {(name.content or {})['name']} ({len(roots.roots)} roots)"


async def serve(
    handler: Handler,
    params: dict[str, Any],
    *,
    capabilities: ClientCapabilities = ALL,
    binding: str | None = ALICE,
    tool: str = "tool",
) -> str | dict[str, Any]:
    """What the request pipeline does for one 2026 tools/call."""
    envelope = decode_envelope(msgspec.Raw(msgspec.json.encode(params)))
    digest = request_digest("tools/call", tool, params.get("arguments", {}))
    book = open_book(envelope, capabilities, SEALER, binding=binding, request=digest)
    outcome = await attempt(lambda: handler(book))
    if outcome is Outcome.NEEDS_INPUT:
        result = input_required(book, SEALER, binding=binding, request=digest)
        return msgspec.json.decode(msgspec.json.encode(result))
    return outcome


def retry(first: dict[str, Any], **answers: Any) -> dict[str, Any]:
    return {"arguments": {}, "inputResponses": answers, "requestState": first["requestState"]}


async def test_one_question_two_rounds() -> None:
    first = await serve(elicitation_tool, {"arguments": {}})
    assert isinstance(first, dict) and first["resultType"] == "input_required"
    assert first["inputRequests"]["user_name"]["method"] == "elicitation/create"
    assert first["inputRequests"]["user_name"]["params"]["message"] == "What is your name?"
    assert await serve(elicitation_tool, retry(first, user_name=accept(name="Alice"))) == (
        "Hello, Alice!"
    )


async def test_multi_round_state_evolves_and_keeps_earlier_answers() -> None:
    first = await serve(multi_round_tool, {"arguments": {}})
    assert isinstance(first, dict) and list(first["inputRequests"]) == ["step1"]
    second = await serve(multi_round_tool, retry(first, step1=accept(name="Ann")))
    assert isinstance(second, dict) and list(second["inputRequests"]) == ["step2"]
    assert second["requestState"] != first["requestState"]
    # the client may not change an answer sealed in an earlier round
    third = retry(second, step2=accept(color="teal"), step1=accept(name="Mallory"))
    assert await serve(multi_round_tool, third) == "Ann likes teal"


async def test_concurrent_questions_go_out_in_one_round() -> None:
    first = await serve(multiple_inputs_tool, {"arguments": {}})
    assert isinstance(first, dict)
    assert {k: v["method"] for k, v in first["inputRequests"].items()} == {
        "user_name": "elicitation/create",
        "greeting": "sampling/createMessage",
        "client_roots": "roots/list",
    }
    answers = {
        "user_name": accept(name="Bo"),
        "greeting": {
            "role": "assistant",
            "content": {"type": "text", "text": "Hi"},
            "model": "m",
            "stopReason": "endTurn",
        },
        "client_roots": {"roots": [{"uri": "file:///r", "name": "r"}]},
    }
    assert await serve(multiple_inputs_tool, retry(first, **answers)) == "Hi Bo (1 roots)"


async def test_task_group_questions_go_out_in_one_round_and_real_errors_propagate() -> None:
    async def grouped(book: AnswerBook) -> str:
        async with asyncio.TaskGroup() as group:
            group.create_task(book.ask(question("a?", "a"), ElicitResult, key="a"))
            group.create_task(book.ask(question("b?", "b"), ElicitResult, key="b"))
        return "done"

    first = await serve(grouped, {"arguments": {}})
    assert isinstance(first, dict) and sorted(first["inputRequests"]) == ["a", "b"]

    async def broken(book: AnswerBook) -> str:
        async def fail() -> None:
            raise RuntimeError("backend down")

        async with asyncio.TaskGroup() as group:
            group.create_task(book.ask(question("a?", "a"), ElicitResult, key="a"))
            group.create_task(fail())
        return "never"

    with pytest.raises(ExceptionGroup) as caught:
        await serve(broken, {"arguments": {}})
    assert caught.group_contains(RuntimeError, match="backend down")


async def test_answers_without_state_or_to_unasked_keys_are_ignored() -> None:
    # a client (or a model writing the params) cannot pre-answer a question
    pre = await serve(
        elicitation_tool, {"arguments": {}, "inputResponses": {"user_name": accept(name="X")}}
    )
    assert isinstance(pre, dict) and list(pre["inputRequests"]) == ["user_name"]
    first = await serve(elicitation_tool, {"arguments": {}})
    assert isinstance(first, dict)
    wrong = await serve(elicitation_tool, retry(first, wrong_key=accept(data="x")))
    assert isinstance(wrong, dict) and list(wrong["inputRequests"]) == ["user_name"]
    extra = retry(first, user_name=accept(name="Alice"), unknown=accept(foo="bar"))
    assert await serve(elicitation_tool, extra) == "Hello, Alice!"


async def rejected(handler: Handler, params: dict[str, Any], **kwargs: Any) -> McpError:
    with pytest.raises(McpError) as caught:
        await serve(handler, params, **kwargs)
    return caught.value


async def test_state_is_refused_when_tampered_replayed_or_moved_to_another_tool() -> None:
    first = await serve(elicitation_tool, {"arguments": {}})
    assert isinstance(first, dict)
    answer = {"user_name": accept(name="A")}
    tampered = {**retry(first, **answer), "requestState": first["requestState"] + "-TAMPERED"}
    error = await rejected(elicitation_tool, tampered)
    assert error.code == INVALID_PARAMS and "integrity" in error.message
    error = await rejected(elicitation_tool, retry(first, **answer), binding=BOB)
    assert "another principal" in error.message
    error = await rejected(elicitation_tool, retry(first, **answer), tool="other_tool")
    assert "another request" in error.message
    moved = {**retry(first, **answer), "arguments": {"path": "/etc"}}
    assert "another request" in (await rejected(elicitation_tool, moved)).message


async def test_an_undeclared_capability_is_minus_32021() -> None:
    error = await rejected(
        elicitation_tool,
        {"arguments": {}},
        capabilities=ClientCapabilities(sampling=SamplingCapability()),
    )
    assert error.code == MISSING_REQUIRED_CLIENT_CAPABILITY
    assert error.data == {"requiredCapabilities": {"elicitation": {}}}


async def test_a_malformed_answer_is_invalid_params() -> None:
    first = await serve(elicitation_tool, {"arguments": {}})
    assert isinstance(first, dict)
    error = await rejected(elicitation_tool, retry(first, user_name={"action": "maybe"}))
    assert error.code == INVALID_PARAMS and "user_name" in error.message


async def test_default_keys_bind_answers_to_the_question_asked() -> None:
    def confirm_tool(target: list[str]) -> Handler:
        async def run(book: AnswerBook) -> str:
            answer = await book.ask(question(f"Delete {target[0]}?", "ok"), ElicitResult)
            return f"deleted {target[0]}" if answer.action == "accept" else "kept"

        return run

    target = ["a.txt"]
    first = await serve(confirm_tool(target), {"arguments": {}})
    assert isinstance(first, dict)
    (key,) = first["inputRequests"]
    assert key.startswith("elicitation-1-")
    target[0] = "b.txt"  # a handler that asks something else on the retry (not deterministic)
    again = await serve(confirm_tool(target), retry(first, **{key: accept(ok="yes")}))
    assert isinstance(again, dict), "the answer to 'Delete a.txt?' must not delete b.txt"
    (other,) = again["inputRequests"]
    assert other != key


async def test_handler_except_exception_cannot_swallow_the_question() -> None:
    async def careless(book: AnswerBook) -> str:
        try:
            await book.ask(question("name?", "name"), ElicitResult, key="n")
        except Exception:
            return "swallowed"
        return "answered"

    first = await serve(careless, {"arguments": {}})
    assert isinstance(first, dict) and first["resultType"] == "input_required"


async def test_side_effects_after_the_last_question_run_once() -> None:
    effects: list[str] = []

    async def writer(book: AnswerBook) -> str:
        answer = await book.ask(question("Write it?", "ok"), ElicitResult, key="confirm")
        if answer.action == "accept":
            effects.append("written")
        return "ok"

    first = await serve(writer, {"arguments": {}})
    assert isinstance(first, dict) and effects == []
    assert await serve(writer, retry(first, confirm=accept(ok="y"))) == "ok"
    assert effects == ["written"]


def test_input_required_result_shape() -> None:
    book = AnswerBook(ALL, {})
    book.asked["q"] = RootsInput()
    result = input_required(book, SEALER, binding=None, request="r")
    assert isinstance(result, InputRequiredResult) and result.request_state
    assert SEALER.open(result.request_state, binding=None, request="r").pending == ("q",)
