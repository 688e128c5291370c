"""`mcpmesh secrets list|delete` with the operator credential, against a real OpenBao:
names only (the operator still cannot read a value), names checked before Vault is asked."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from .conftest import VaultKit, admin
from .test_cli_and_bootstrap import run_cli


async def operator_env(kit: VaultKit) -> dict[str, str]:
    created = await admin(lambda: kit.root.auth.token.create(policies=["mcpmesh-operator"]))
    return {
        "MCPMESH_VAULT_ADDR": kit.server.addr,
        "MCPMESH_VAULT_TOKEN": created["auth"]["client_token"],
    }


async def test_list_shows_names_per_service_and_principal_never_values(kit: VaultKit) -> None:
    await kit.write("services/github/token", "ghp_" + "SharedValue1" * 3)
    await kit.write("services/github/principals/alice/token", "ghp_" + "AliceValue12" * 3)
    await kit.write("services/slack/bot_token", "xoxb-" + "SlackValue12" * 3)
    env = await operator_env(kit)
    status, out = await run_cli("secrets", "list", stdin=b"", env=env)
    assert status == 0, out
    lines = [line.split() for line in out.splitlines() if line.strip()]
    assert ["github", "(every", "caller)", "token"] in lines
    assert ["github", "for", "alice", "token"] in lines
    assert ["slack", "(every", "caller)", "bot_token"] in lines
    assert "Value12" not in out
    status, out = await run_cli("secrets", "list", "github", "--for", "alice", stdin=b"", env=env)
    assert status == 0 and "alice" in out and "every caller" not in out and "slack" not in out


async def test_delete_removes_every_version_and_says_when_there_was_none(kit: VaultKit) -> None:
    await kit.write("services/slack/bot_token", "xoxb-" + "GoingAway123" * 3)
    await kit.write("services/slack/principals/bob/bot_token", "xoxb-" + "BobStays1234" * 3)
    env = await operator_env(kit)
    status, out = await run_cli("secrets", "delete", "slack", "bot_token", stdin=b"", env=env)
    assert status == 0, out
    with pytest.raises(hvac.exceptions.InvalidPath):
        await admin(
            lambda: kit.root.secrets.kv.v2.read_secret_metadata(
                path="services/slack/bot_token", mount_point="mcpmesh"
            )
        )
    bob = await kit.provider("slack")
    assert await bob.get("bot_token", principal="bob") == "xoxb-" + "BobStays1234" * 3
    status, out = await run_cli("secrets", "delete", "slack", "bot_token", stdin=b"", env=env)
    assert status == 1 and "no secret slack/bot_token" in out


async def test_operator_may_list_but_still_not_read(kit: VaultKit) -> None:
    await kit.write("services/github/token", "ghp_" + "NotForOperator" * 3)
    env = await operator_env(kit)
    operator = hvac.Client(url=kit.server.addr, token=env["MCPMESH_VAULT_TOKEN"])
    with pytest.raises(hvac.exceptions.Forbidden):
        await admin(
            lambda: operator.secrets.kv.v2.read_secret_version(
                path="services/github/token", mount_point="mcpmesh", raise_on_deleted_version=True
            )
        )


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (("delete", "github/../slack", "token"), "invalid service"),
        (("delete", "gitlab", "token"), "unknown service 'gitlab'"),
        (("delete", "github", "a/b"), "invalid name"),
        (("list", "github", "--for", "../x"), "invalid principal"),
    ],
)
async def test_bad_names_are_refused_before_vault(argv: tuple[str, ...], problem: str) -> None:
    env = {"MCPMESH_VAULT_ADDR": "http://127.0.0.1:9", "MCPMESH_VAULT_TOKEN": "unused"}
    status, out = await run_cli("secrets", *argv, stdin=b"", env=env)
    assert status == 2 and problem in out, out
