"""One log line per tool call: tool, principal, outcome, duration, error class."""

from __future__ import annotations

import aiohttp
import pytest
from structlog.testing import capture_logs

from mcpmesh.obs.logging import configure_logging
from mcpmesh.testing import RawClient, serve_in_background

from .test_metrics import echo_service


async def test_each_tool_call_is_one_line() -> None:
    # The call logger is bound when the app is built: capture from before that.
    with capture_logs() as lines:
        async with (
            serve_in_background(echo_service()) as running,
            aiohttp.ClientSession() as http,
        ):
            raw = RawClient(http, running.url)
            await raw.initialize()
            await raw.call("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
            await raw.call("tools/call", {"name": "fail", "arguments": {"text": "no"}})
            await raw.call("tools/call", {"name": "nope", "arguments": {}})
            await raw.call("tools/list")
    calls = [line for line in lines if line["event"] == "call"]
    assert [(c["tool"], c["outcome"], c["error"]) for c in calls] == [
        ("echo", "ok", None),
        ("fail", "error", None),
        ("nope", "rejected", "McpError"),
    ]
    assert all(c["principal"] is None and c["ms"] >= 0 for c in calls)


@pytest.mark.parametrize(("tty", "json"), [(True, False), (False, True)])
def test_log_format_follows_the_terminal_unless_set(
    tty: bool, json: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    import structlog

    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    saved = structlog.get_config()
    try:
        configure_logging("fmt", "info", None)
        structlog.get_logger("fmt-test").info("call", tool="echo")
    finally:
        structlog.configure(**saved)
        structlog.contextvars.clear_contextvars()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("{") is json
    assert "echo" in line
