"""structlog set-up: JSON lines on stderr, carrying service, session and request ids.

Redaction processors (see :mod:`mcpmesh.guard`) are added to the chain here so no
secret reaches a log line.
"""

from __future__ import annotations

import logging
import sys

import structlog

Processor = structlog.typing.Processor

#: Extra processors run just before rendering (redaction registers itself here).
EXTRA_PROCESSORS: list[Processor] = []


def configure_logging(service: str, level: str = "info", json: bool | None = True) -> None:
    """Logs of this process. ``json=None``: JSON lines unless stderr is a terminal."""
    if json is None:
        json = not sys.stderr.isatty()
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *EXTRA_PROCESSORS,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
