"""Secret redaction for logs and tool results.

Two nets, because either alone leaks:

* **Known values.** Every secret a provider hands out is remembered here
  (:func:`remember`), in memory only, so the exact value is replaced wherever it shows
  up later — even when it has no recognisable shape (a database password).
* **Token shapes.** Strings shaped like GitHub, Slack or Vault tokens are replaced even
  when this process never fetched them (a token pasted into an issue, echoed by an API).

:func:`redact_log_event` is a structlog processor (registered in
:data:`mcpmesh.obs.logging.EXTRA_PROCESSORS` on import, and spliced into an already
configured chain by :func:`install_log_redaction`); :func:`redact_result` is a
``service.result_filters`` entry.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, MutableMapping
from typing import Any

import msgspec
import structlog

from mcpmesh.obs import logging as obs_logging
from mcpmesh.protocol.types import (
    CallToolResult,
    EmbeddedResource,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

REDACTED = "[REDACTED]"

#: Values shorter than this are not remembered: replacing "1" or "abc" everywhere would
#: mangle output without protecting anything (such strings are not secrets).
MIN_SECRET_LENGTH = 6
#: Remembered values kept at most (oldest forgotten first); leases rotate, memory must not grow.
MAX_REMEMBERED = 4096

#: Token shapes: GitHub classic/fine-grained/app/OAuth tokens, Slack bot/user/app/config
#: tokens, Vault/OpenBao service, batch and recovery tokens (new ``hvs.`` and legacy ``s.``).
TOKEN_PATTERN = re.compile(
    r"""
    \b(?:
        gh[pousr]_[A-Za-z0-9]{30,}              # GitHub classic, OAuth, user, server, refresh
      | github_pat_[A-Za-z0-9_]{20,}            # GitHub fine-grained PAT
      | xox[abposer]-[A-Za-z0-9-]{8,}           # Slack bot/user/app-level/legacy tokens
      | xapp-[0-9]-[A-Za-z0-9-]{8,}             # Slack app-level token
      | xoxe\.xox[bp]-[A-Za-z0-9-]{8,}          # Slack rotating token
      | hv[sbr]\.[A-Za-z0-9_-]{20,}             # Vault >= 1.10 service/batch/recovery token
      | [sbr]\.[A-Za-z0-9]{24}(?![A-Za-z0-9])   # legacy Vault / OpenBao token
    )
    """,
    re.VERBOSE,
)
#: A part every match of :data:`TOKEN_PATTERN` contains, one per alternative (the rotating
#: Slack token holds ``xoxb-``/``xoxp-``; a legacy Vault token a dot and 24 letters or
#: digits). Each starts with a literal, which ``re`` finds with a fast scan, while the
#: pattern itself (a leading ``\b`` before an alternation) is tried at every position:
#: ~18 ms per MiB of text against ~2.5 ms for all of these. A text containing none of them
#: holds no token, so :data:`TOKEN_PATTERN` runs only on the texts that do. A new token
#: shape needs its part here too (the token tests fail without it).
_TOKEN_HINTS = tuple(
    re.compile(part)
    for part in (
        r"gh[pousr]_",
        r"github_pat_",
        r"xox[abposer]-",
        r"xapp-",
        r"hv[sbr]\.",
        r"\.[A-Za-z0-9]{24}",
    )
)


#: Shorter texts go to :data:`TOKEN_PATTERN` directly: on a few dozen characters one scan
#: costs less than six (a query result's cells, a file name).
_HINTS_FROM = 64


def _may_hold_token(text: str) -> bool:
    if len(text) < _HINTS_FROM:
        return True
    return any(hint.search(text) is not None for hint in _TOKEN_HINTS)


class _Remembered:
    """The secret values handed out so far, as one compiled alternation."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            self._values[value] = None
            while len(self._values) > MAX_REMEMBERED:
                self._values.popitem(last=False)
            # Longest first, so a secret that contains another is replaced whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    @property
    def pattern(self) -> re.Pattern[str] | None:
        return self._pattern


_remembered = _Remembered()


def remember(value: str) -> None:
    """Redact ``value`` from every later log line and tool result of this process."""
    _remembered.add(value)


def forget_all() -> None:
    """Drop every remembered value (tests only)."""
    _remembered.clear()


def redact_text(text: str) -> str:
    """``text`` with known secret values and token-shaped strings replaced."""
    pattern = _remembered.pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return TOKEN_PATTERN.sub(REDACTED, text) if _may_hold_token(text) else text


def contains_secret(text: str) -> bool:
    pattern = _remembered.pattern
    if pattern is not None and pattern.search(text):
        return True
    return _may_hold_token(text) and TOKEN_PATTERN.search(text) is not None


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts, lists and tuples (other values pass through)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    return value


# ------------------------------------------------------------------ logs


def redact_log_event(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every string in the event (runs before rendering)."""
    for key, value in event_dict.items():
        if isinstance(value, str | dict | list | tuple):
            event_dict[key] = redact_value(value)
        elif isinstance(value, BaseException):
            event_dict[key] = redact_text(repr(value))
    return event_dict


_base_record_factory = logging.getLogRecordFactory()


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """stdlib records (hvac, urllib3, aiohttp log through ``logging``) are redacted as
    they are created, so every handler — including ones added later — sees clean text."""
    record = _base_record_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a malformed %-format is the logger's problem, not ours
        return record
    if contains_secret(message):
        record.msg, record.args = redact_text(message), None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        if contains_secret(text):
            record.exc_info, record.exc_text = None, redact_text(text)
    return record


def install_log_redaction() -> None:
    """Make sure structlog and stdlib logging redact, whenever logging was configured.

    Registering in ``EXTRA_PROCESSORS`` covers ``configure_logging`` calls made later;
    splicing into the current chain covers a chain configured before this import.
    """
    if redact_log_event not in obs_logging.EXTRA_PROCESSORS:
        obs_logging.EXTRA_PROCESSORS.append(redact_log_event)
    processors: list[Callable[..., Any]] = list(structlog.get_config()["processors"])
    if redact_log_event not in processors:
        processors.insert(max(len(processors) - 1, 0), redact_log_event)
        structlog.configure(processors=processors)
    if logging.getLogRecordFactory() is not _redacting_record_factory:
        logging.setLogRecordFactory(_redacting_record_factory)


# ------------------------------------------------------------------ tool results


def _redact_content(block: Any) -> Any:
    if isinstance(block, TextContent):
        text = redact_text(block.text)
        return block if text == block.text else msgspec.structs.replace(block, text=text)
    if isinstance(block, EmbeddedResource) and isinstance(block.resource, TextResourceContents):
        text = redact_text(block.resource.text)
        if text == block.resource.text:
            return block
        return msgspec.structs.replace(
            block, resource=msgspec.structs.replace(block.resource, text=text)
        )
    if isinstance(block, ResourceLink) and block.description:
        return msgspec.structs.replace(block, description=redact_text(block.description))
    return block


def redact_result(result: CallToolResult) -> CallToolResult:
    """No secret leaves in a tool result (the ``redact_results`` middleware applies it)."""
    content = [_redact_content(block) for block in result.content]
    structured = result.structured_content
    if structured is not None:
        plain = msgspec.to_builtins(structured)
        cleaned = redact_value(plain)
        if cleaned != plain:
            structured = cleaned
    if structured is result.structured_content and all(
        new is old for new, old in zip(content, result.content, strict=True)
    ):
        return result
    return msgspec.structs.replace(result, content=content, structured_content=structured)
