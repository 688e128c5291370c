"""Guards between a service and the outside world.

:mod:`mcpmesh.guard.redaction` keeps secrets out of logs and tool results; importing
this package installs the log redaction.
"""

from mcpmesh.guard.redaction import (
    REDACTED,
    install_log_redaction,
    redact_log_event,
    redact_result,
    redact_text,
    remember,
)

install_log_redaction()

__all__ = [
    "REDACTED",
    "install_log_redaction",
    "redact_log_event",
    "redact_result",
    "redact_text",
    "remember",
]
