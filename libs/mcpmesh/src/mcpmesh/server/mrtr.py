"""Multi round-trip requests (2026-07-28) by re-running the handler with recorded answers.

On the 2025 wire a handler's ``ctx.elicit()`` sends a request and waits. On the 2026 wire
each answer arrives in a new request, perhaps on another replica, so a request runs the
handler from the top with an :class:`AnswerBook`: the answers sealed in ``requestState``
plus the client's ``inputResponses`` to the questions that state says were asked. A
question the book answers returns at once; the first one it cannot ends the attempt with
:class:`InputRequired`, and :func:`input_required` turns the book into the
``input_required`` result with a freshly sealed state. The handler's code is the same in
both eras; what it owes is no side effect before its last question and deterministic
questions (see the library README, "MRTR execution model").

The core knows nothing of ``Context`` or HTTP: ``Context`` asks through
:meth:`AnswerBook.ask` on the 2026 wire, and the ``mrtr`` middleware (first in the
chain; :func:`mcpmesh.server.middleware.mrtr`) calls :func:`open_book` before the handler and :func:`input_required` after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Literal, TypeVar

import msgspec
from msgspec import Raw, UnsetType

from mcpmesh.guard.sealing import InvalidRequestState, StateSealer
from mcpmesh.protocol.errors import invalid_params, missing_client_capability
from mcpmesh.protocol.types import ClientCapabilities
from mcpmesh.protocol.v2026 import (
    InputRequest,
    InputRequiredResult,
    RequestEnvelope,
    input_capability,
)

T = TypeVar("T")


class InputRequired(BaseException):
    """Ends an attempt at the first question without an answer.

    A ``BaseException`` (like ``CancelledError``) so that a handler's ``except
    Exception`` cannot swallow it; only the request pipeline catches it.
    """


class AnswerBook:
    """The answers one 2026 attempt may use, and the questions it asked without one."""

    __slots__ = ("_capabilities", "_count", "_open", "_quiet", "answers", "asked")

    def __init__(self, capabilities: ClientCapabilities, answers: Mapping[str, Raw]) -> None:
        self._capabilities = capabilities
        self._count = 0
        self._open = 0
        self._quiet: asyncio.Future[None] | None = None
        #: Every answer this request carries (sealed earlier rounds + accepted new ones).
        self.answers: dict[str, Raw] = dict(answers)
        #: Questions of this attempt that have no answer yet, by key.
        self.asked: dict[str, InputRequest] = {}

    @contextlib.contextmanager
    def question(self) -> Iterator[None]:
        """Around everything a ``ctx`` question does before :meth:`ask` (the sampling
        policy may wait on the bus): an attempt ending at another question waits for this
        one to register, so concurrent questions still go out in one round."""
        self._open += 1
        try:
            yield
        finally:
            self._open -= 1
            if self._open == 0 and self._quiet is not None and not self._quiet.done():
                self._quiet.set_result(None)

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until no question is on its way to :meth:`ask` (bounded by ``timeout``)."""
        if self._open == 0:
            return
        self._quiet = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._quiet), timeout)

    def key_for(self, question: InputRequest, key: str | None) -> str:
        """``key`` when the handler names one, else kind, position and content digest
        (``elicitation-1-3f2a9c1b0d``): an answer never lands on another question."""
        self._count += 1
        if key is not None:
            return key
        digest = hashlib.sha256(msgspec.json.encode(question, order="sorted")).hexdigest()
        return f"{input_capability(question)}-{self._count}-{digest[:10]}"

    async def ask(
        self, question: InputRequest, answer_type: type[T], *, key: str | None = None
    ) -> T:
        """The recorded answer to ``question``, or end the attempt with :class:`InputRequired`.

        A question needing a capability the request did not declare is -32021 (MRTR: only
        ask for what the client supports). A malformed answer is -32602.
        """
        capability = input_capability(question)
        if getattr(self._capabilities, capability) is None:
            raise missing_client_capability(
                {capability: {}},
                f"This request needs the client's {capability} capability, which its "
                "_meta io.modelcontextprotocol/clientCapabilities does not declare.",
            )
        name = self.key_for(question, key)
        raw = self.answers.get(name)
        if raw is None:
            self.asked[name] = question
            raise InputRequired(name)
        try:
            return msgspec.json.decode(raw, type=answer_type)
        except msgspec.DecodeError as exc:
            raise invalid_params(
                f"inputResponses[{name[:60]!r}] is not a valid {answer_type.__name__}: {exc}"
            ) from None


def open_book(
    envelope: RequestEnvelope,
    capabilities: ClientCapabilities,
    sealer: StateSealer,
    *,
    binding: str | None,
    request: str,
) -> AnswerBook:
    """The answer book of one request: the sealed answers of earlier rounds, plus the
    ``inputResponses`` to exactly the questions that state says were asked.

    ``inputResponses`` without a ``requestState`` (or to keys it did not ask) are ignored:
    an answer counts only for a question this server asked, so nobody can pre-answer a
    confirmation. A ``requestState`` that fails to open is -32602, naming why.
    """
    if isinstance(envelope.request_state, UnsetType):
        return AnswerBook(capabilities, {})
    try:
        state = sealer.open(envelope.request_state, binding=binding, request=request)
    except InvalidRequestState as exc:
        raise invalid_params(f"Invalid requestState: {exc}") from None
    fresh = {} if isinstance(envelope.input_responses, UnsetType) else envelope.input_responses
    accepted = {key: fresh[key] for key in state.pending if key in fresh}
    return AnswerBook(capabilities, {**accepted, **state.answers})  # recorded answers win


def input_required(
    book: AnswerBook, sealer: StateSealer, *, binding: str | None, request: str
) -> InputRequiredResult:
    """The ``input_required`` result of an attempt that ended at unanswered questions."""
    state = sealer.seal(
        binding=binding, request=request, answers=book.answers, pending=tuple(book.asked)
    )
    return InputRequiredResult(input_requests=dict(book.asked), request_state=state)


class Outcome(enum.Enum):
    #: The attempt ended at questions without answers; the book holds them.
    NEEDS_INPUT = "needs_input"


async def attempt(
    call: Callable[[], Awaitable[T]], book: AnswerBook | None = None
) -> T | Literal[Outcome.NEEDS_INPUT]:
    """Run one attempt of a handler. Questions asked concurrently (``asyncio.gather`` or a
    ``TaskGroup``) all reach the book: each registers before it raises, in the same turn
    of the event loop, and with ``book`` the attempt also waits for questions still on
    their way (:meth:`AnswerBook.question`), so they go out in one round."""
    try:
        return await call()
    except InputRequired:
        pass
    except BaseExceptionGroup as group:  # a TaskGroup of questions
        _, rest = group.split(InputRequired)
        if rest is not None:
            raise rest from None
    if book is not None:
        await book.settle()
    return Outcome.NEEDS_INPUT
