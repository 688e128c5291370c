"""No secret reaches a log line or a tool result: a real service using a real Vault,
driven by the official MCP client, with every log line of the run captured."""

from __future__ import annotations

import io
import logging

import msgspec
import pytest
import structlog

from mcpmesh import Context, Service
from mcpmesh.guard import REDACTED, redact_result, redact_text, remember
from mcpmesh.obs.logging import configure_logging
from mcpmesh.protocol.types import CallToolResult, TextContent
from mcpmesh.secrets import DevSecretProvider, SecretUnavailable
from mcpmesh.testing import sdk_session, serve_in_background

from .conftest import VaultKit

TOKEN_SHAPES = [
    "ghp_" + "A1b2C3d4E5" * 4,
    "gho_" + "Zz9" * 12,
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-123456789012-123456789012-123456789012-0123456789abcdef0123456789abcdef",
    "xapp-1-A0123456789-1234567890123-abcdef0123456789",
    "xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIz",
    "hvs.CAESIJ" + "k" * 80,
    "hvb.AAAAAQJ" + "x_-" * 10,
    "s.HMua8xl7y8xqMYhsAAdZktN6",
    "b.AAAAAQJ3m9Qw7ZtY2Lx8pRkN",
]


@pytest.mark.parametrize("token", TOKEN_SHAPES)
def test_token_shaped_strings_are_redacted(token: str) -> None:
    text = f'Authorization: "Bearer {token}" trailing'
    assert token not in redact_text(text)
    assert redact_text(text) == f'Authorization: "Bearer {REDACTED}" trailing'


def test_ordinary_text_is_left_alone() -> None:
    text = "The issue ghp is closed; s.t. x = xoxb; see docs.example.com/s.html"
    assert redact_text(text) == text
    # Parts of a token shape without the rest: the full pattern runs on them and finds none.
    near = "ghp_short xoxb-1 a.b.AAAAAQJ3m9Qw7ZtY2Lx8pRkNzz xs.HMua8xl7y8xqMYhsAAdZktN6"
    assert redact_text(near) == near


@pytest.mark.parametrize("token", TOKEN_SHAPES)
def test_a_token_deep_in_a_large_text_is_redacted(token: str) -> None:
    filler = "the quick brown fox jumps over the lazy dog 0123456789 file_000.txt\n" * 4000
    text = filler + f"key={token}\n" + filler
    assert redact_text(text) == filler + f"key={REDACTED}\n" + filler


def test_remembered_values_are_redacted_whatever_their_shape() -> None:
    remember("correct horse battery staple")
    assert redact_text("pw=correct horse battery staple!") == f"pw={REDACTED}!"


def test_result_filter_redacts_text_and_structured_content() -> None:
    remember("p4ssw0rd-from-vault")
    result = CallToolResult(
        content=[TextContent(text="dsn postgresql://u:p4ssw0rd-from-vault@h/db")],
        structured_content={"dsn": "postgresql://u:p4ssw0rd-from-vault@h/db", "n": 1},
    )
    cleaned = redact_result(result)
    assert "p4ssw0rd" not in msgspec.json.encode(cleaned).decode()
    assert cleaned.structured_content["n"] == 1
    clean = CallToolResult(content=[TextContent(text="nothing to hide")])
    assert redact_result(clean) is clean


class Echo(msgspec.Struct):
    text: str


class Leaky(msgspec.Struct):
    header: str
    note: str


def leaky_service(provider) -> Service:  # type: ignore[no-untyped-def]
    """A careless service: it logs its token every way it can and returns it."""
    service = Service("github", version="0", secrets=provider)
    log = structlog.get_logger("leaky")

    @service.tool()
    async def leak(ctx: Context, args: Echo) -> Leaky:
        token = await ctx.secrets.get("token", principal=ctx.principal)
        log.info("calling GitHub", token=token, header=f"Bearer {token}", nested={"t": [token]})
        logging.getLogger("leaky.stdlib").warning("token is %s", token)
        try:
            raise RuntimeError(f"GitHub said no to {token}")
        except RuntimeError:
            log.exception("failed")
        return Leaky(header=f"Bearer {token}", note=f"{args.text} {token}")

    @service.tool()
    async def missing(ctx: Context, args: Echo) -> str:
        return await ctx.secrets.get("not_there")

    return service


async def test_a_run_using_secrets_leaks_nothing_to_logs_or_results(
    kit: VaultKit, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "ghp_" + "R3alT0ken" * 4
    unrelated = "xoxb-999999999999-888888888888-unrelatedSlackTok"
    await kit.write("services/github/token", secret)
    stdlib_lines = io.StringIO()
    handler = logging.StreamHandler(stdlib_lines)
    logging.getLogger().addHandler(handler)
    configure_logging("github", "debug")
    # Loggers must not keep capsys's stream past this test.
    structlog.configure(cache_logger_on_first_use=False)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    try:
        provider = await kit.provider("github")
        async with (
            serve_in_background(leaky_service(provider)) as running,
            sdk_session(running.url) as session,
        ):
            result = await session.call_tool("leak", {"text": f"echo {unrelated}"})
            failed = await session.call_tool("missing", {"text": ""})
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        structlog.reset_defaults()
    captured = capsys.readouterr()
    logs = captured.out + captured.err + stdlib_lines.getvalue()
    results = result.model_dump_json() + failed.model_dump_json()
    # The run really did use and log the secret (so the check below can fail) ...
    assert "calling GitHub" in logs and "token is" in logs and "failed" in logs
    assert REDACTED in logs and REDACTED in results
    assert not result.is_error
    # ... and the value is nowhere.
    for text in (logs, results):
        assert secret not in text
        assert secret[4:] not in text
        assert unrelated not in text
    assert failed.is_error and "mcpmesh secrets set github not_there" in results


async def test_dev_provider_values_are_redacted_too() -> None:
    provider = DevSecretProvider({"bot_token": "dev-only-value-123"}, service="slack")
    assert await provider.get("bot_token") == "dev-only-value-123"
    assert redact_text("x dev-only-value-123") == f"x {REDACTED}"
    with pytest.raises(SecretUnavailable, match="mcpmesh secrets set slack user_token"):
        await provider.get("user_token")
