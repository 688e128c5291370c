"""structlog set-up: JSON lines on stderr, carrying service, session and request ids.

Redaction processors (see :mod:`mcpmesh.guard`) are added to the chain here so no
secret reaches a log line.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from aiohttp import http_exceptions, web

Processor = structlog.typing.Processor
_FOLD_DECISION = "_mcpmesh_fold_decision"
_CLIENT_ERRORS = (http_exceptions.HttpProcessingError, web.RequestPayloadError)

#: Events that are a record of their own, one line each by promise, never folded: the
#: per-call line (``mcpmesh.app.observe``) counts calls, and two calls can log the same.
NEVER_FOLDED = frozenset({"call"})

#: Extra processors run just before rendering (redaction registers itself here).
EXTRA_PROCESSORS: list[Processor] = []

#: The fields the running request adds to every log line, in :data:`REQUEST_FIELDS` order.
REQUEST_FIELDS = ("service", "session", "request", "principal")
_REQUEST: ContextVar[tuple[Any, ...] | None] = ContextVar("mcpmesh_request", default=None)


def bind_request(service: str, session: str, request: Any, principal: str | None) -> None:
    """Name the running request in its log lines. One context variable set per request:
    ``structlog.contextvars.bind_contextvars`` sets one per field, and costs every call
    that much even when nothing is logged."""
    _REQUEST.set((service, session, request, principal))


def merge_request(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """The processor that adds the running request's fields (those the line lacks)."""
    bound = _REQUEST.get()
    if bound is not None:
        for name, value in zip(REQUEST_FIELDS, bound, strict=True):
            event.setdefault(name, value)
    return event


class RepeatFolder:
    """Folds identical log lines: the first passes, copies within ``window`` seconds are
    counted and dropped, and the next one after the window carries ``repeated: N`` (how
    many were folded). A flood (an accept loop failing thousands of times a second) is
    then one line per window, and nothing is lost from the record but the copies.

    One instance serves as a structlog processor (keyed on the whole event, before the
    timestamp) and as a :class:`logging.Filter` for the standard library's loggers.
    """

    _MAX_KEYS = 1024

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        #: key -> (when the last line with this key was let through, copies dropped since)
        self._seen: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()

    def admit(self, key: Hashable) -> int | None:
        """``None``: drop this line; else let it through, with this many folded before."""
        now = self.clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.window:
            self._seen[key] = (last[0], last[1] + 1)
            return None
        self._seen[key] = (now, 0)
        self._seen.move_to_end(key)
        while len(self._seen) > self._MAX_KEYS:
            self._seen.popitem(last=False)
        return last[1] if last is not None else 0

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if self.window <= 0 or event_dict.get("event") in NEVER_FOLDED:
            return event_dict
        folded = self.admit(repr(sorted(event_dict.items(), key=lambda item: item[0])))
        if folded is None:
            raise structlog.DropEvent
        if folded:
            event_dict["repeated"] = f"… repeated {folded} times"
        return event_dict

    def filter(self, record: logging.LogRecord) -> bool:
        if self.window <= 0:
            return True
        # One record reaches every root handler: decide once, so handlers agree.
        decided = getattr(record, _FOLD_DECISION, None)
        if decided is not None:
            return bool(decided)
        error = record.exc_info[1] if record.exc_info else None
        key = (record.name, record.levelno, record.getMessage(), repr(error))
        folded = self.admit(key)
        setattr(record, _FOLD_DECISION, folded is not None)
        if folded is None:
            return False
        if folded:
            record.msg = f"{record.getMessage()} (… repeated {folded} times)"
            record.args = None
        return True


def quiet_client_errors(record: logging.LogRecord) -> bool:
    """aiohttp logs every malformed request a client sends (bad framing, duplicate
    headers, an undecodable body) as an ERROR with a traceback: a flood anyone can cause,
    and noise that hides real errors. Such a record becomes one WARNING line naming the
    problem; the client already got its 400."""
    error = record.exc_info[1] if record.exc_info else None
    if record.name.startswith("aiohttp") and isinstance(error, _CLIENT_ERRORS):
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        record.msg = f"{record.getMessage()}: {type(error).__name__}: {first_line}"[:500]
        record.args = None
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def configure_logging(
    service: str, level: str = "info", json: bool | None = True, repeat_window: float = 10.0
) -> None:
    """Logs of this process. ``json=None``: JSON lines unless stderr is a terminal;
    identical lines within ``repeat_window`` seconds are folded (see :class:`RepeatFolder`)."""
    if json is None:
        json = not sys.stderr.isatty()
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    folder = RepeatFolder(repeat_window)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            merge_request,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            folder,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *EXTRA_PROCESSORS,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet_client_errors)  # first: the folder then sees one line
        handler.addFilter(folder)
