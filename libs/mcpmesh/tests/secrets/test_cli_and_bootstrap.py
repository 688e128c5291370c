"""`mcpmesh secrets set`, the bootstrap, and the `mcpmesh up` Vault starter, against a
real OpenBao dev server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from mcpmesh.embedded.vault import VaultServer, vault_starter
from mcpmesh.secrets import secrets_from_env
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir, generate_root

from .conftest import VaultKit, admin


async def run_cli(*argv: str, stdin: bytes, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh",
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **env},
    )
    out, _ = await process.communicate(stdin)
    return process.returncode or 0, out.decode()


async def test_secrets_set_reads_stdin_and_the_service_can_read_it(
    kit: VaultKit, tmp_path: Path
) -> None:
    token = await admin(lambda: kit.root.auth.token.create(policies=["mcpmesh-operator"]))
    env = {
        "MCPMESH_VAULT_ADDR": kit.server.addr,
        "MCPMESH_VAULT_TOKEN": token["auth"]["client_token"],
    }
    value = "ghp_" + "St0redFromStdin" * 3
    status, out = await run_cli(
        "secrets", "set", "github", "token", stdin=value.encode() + b"\n", env=env
    )
    assert status == 0, out
    assert value not in out
    provider = await kit.provider("github")
    assert await provider.get("token") == value


async def test_secrets_set_for_a_principal_files_it_under_that_principal(kit: VaultKit) -> None:
    """``--for PRINCIPAL`` (``--principal`` still works): each user's own token; the
    provider returns it as a ``user`` Secret, the service's as ``shared``."""
    token = await admin(lambda: kit.root.auth.token.create(policies=["mcpmesh-operator"]))
    env = {
        "MCPMESH_VAULT_ADDR": kit.server.addr,
        "MCPMESH_VAULT_TOKEN": token["auth"]["client_token"],
    }
    values = {"alice": "ghp_" + "Al1ce" * 7 + "x", "bob": "ghp_" + "B0b" * 12}
    for who, flag in (("alice", "--for"), ("bob", "--principal")):
        status, out = await run_cli(
            "secrets", "set", "github", "token", flag, who, stdin=values[who].encode(), env=env
        )
        assert status == 0, out
        assert values[who] not in out
    await kit.write("services/github/token", "ghp_" + "Shared" * 6)
    provider = await kit.provider("github")
    for who, value in values.items():
        own = await provider.get("token", principal=who)
        assert own == value and own.kind == "user"
    shared = await provider.get("token", principal="carol")  # no own one: the service's
    assert shared.kind == "shared" and shared == "ghp_" + "Shared" * 6
    assert "ghp_" not in repr(own)


async def test_secrets_set_with_empty_stdin_changes_nothing(kit: VaultKit) -> None:
    await kit.write("services/slack/bot_token", "xoxb-keep-this-one-1234")
    env = {"MCPMESH_VAULT_ADDR": kit.server.addr, "MCPMESH_VAULT_TOKEN": kit.server.root_token}
    status, out = await run_cli("secrets", "set", "slack", "bot_token", stdin=b"\n", env=env)
    assert status == 2 and "no value" in out
    provider = await kit.provider("slack")
    assert await provider.get("bot_token") == "xoxb-keep-this-one-1234"


async def test_secrets_set_rejects_path_tricks(kit: VaultKit) -> None:
    env = {"MCPMESH_VAULT_ADDR": kit.server.addr, "MCPMESH_VAULT_TOKEN": kit.server.root_token}
    status, out = await run_cli("secrets", "set", "github/../slack", "x", stdin=b"v", env=env)
    assert status == 2 and "invalid service" in out


async def test_secrets_set_without_vault_says_how_to_start_one(tmp_path: Path) -> None:
    env = {"MCPMESH_VAULT_ADDR": "", "MCPMESH_WORKDIR": str(tmp_path)}
    status, out = await run_cli("secrets", "set", "github", "token", stdin=b"v", env=env)
    assert status == 2 and "make run" in out


async def test_operator_token_can_write_but_not_read(kit: VaultKit) -> None:
    created = await admin(lambda: kit.root.auth.token.create(policies=["mcpmesh-operator"]))
    operator = hvac.Client(url=kit.server.addr, token=created["auth"]["client_token"])
    await admin(
        lambda: operator.secrets.kv.v2.create_or_update_secret(
            path="services/github/token", secret={"value": "v"}, mount_point="mcpmesh"
        )
    )
    with pytest.raises(hvac.exceptions.Forbidden):
        await admin(
            lambda: operator.secrets.kv.v2.read_secret_version(
                path="services/github/token", mount_point="mcpmesh", raise_on_deleted_version=True
            )
        )


async def test_bootstrap_is_idempotent(kit: VaultKit, tmp_path: Path) -> None:
    seed = {"github": {"token": "ghp_" + "Seeded1234" * 4}}
    options = BootstrapOptions(policy_dir=find_policy_dir(), seed=seed)
    await admin(lambda: bootstrap(kit.root, options))
    await admin(lambda: bootstrap(kit.root, options))
    policies = await admin(kit.root.sys.list_policies)
    assert {"mcpmesh-github", "mcpmesh-slack", "mcpmesh-postgres", "mcpmesh-filesystem"} <= set(
        policies["data"]["policies"]
    )
    provider = await kit.provider("github")
    assert await provider.get("token") == seed["github"]["token"]


async def test_a_new_services_policy_file_gets_its_roles(kit: VaultKit, tmp_path: Path) -> None:
    """``mcpmesh new-service`` writes ``<name>.hcl``; the bootstrap makes its AppRole."""
    policies = tmp_path / "policies"
    shutil.copytree(find_policy_dir(), policies)
    (policies / "weather.hcl").write_text(
        'path "mcpmesh/data/services/weather/*" { capabilities = ["read"] }\n'
    )
    options = BootstrapOptions(policy_dir=policies)
    assert "weather" in options.services and "operator" not in options.services
    await admin(lambda: bootstrap(kit.root, options))
    role = await admin(lambda: kit.root.auth.approle.read_role(role_name="mcpmesh-weather"))
    assert role["data"]["token_policies"] == ["mcpmesh-weather"]


async def test_bootstrap_command_line(vault: VaultServer, tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"slack": {"bot_token": "xoxb-1-2-seededvalue"}}))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcpmesh.secrets.bootstrap",
        "--seed-file",
        str(seed),
        "--secret-id-dir",
        str(tmp_path / "ids"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "MCPMESH_VAULT_ADDR": vault.addr,
            "MCPMESH_VAULT_TOKEN": vault.root_token,
        },
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    assert vault.root_token not in out.decode()
    ids = tmp_path / "ids" / "slack.secret-id"
    assert ids.stat().st_mode & 0o777 == 0o600
    env = {
        "MCPMESH_VAULT_ADDR": vault.addr,
        "MCPMESH_VAULT_AUTH": "approle",
        "MCPMESH_VAULT_SECRET_ID_FILE": str(tmp_path / "ids" / "{service}.secret-id"),
    }
    provider = secrets_from_env("slack", env=env)
    try:
        assert await provider.get("bot_token") == "xoxb-1-2-seededvalue"
    finally:
        await provider.close()


async def test_mesh_starter_gives_services_approle_logins_and_hides_the_root_token(
    tmp_path: Path,
) -> None:
    server, env = await vault_starter(tmp_path, {})
    try:
        assert env["MCPMESH_VAULT_AUTH"] == "approle"
        assert env["MCPMESH_PG_ADMIN_DSN"] == ""
        assert server.root_token not in json.dumps(env)
        # The root token the set-up used is revoked once it is done...
        with pytest.raises(hvac.exceptions.Forbidden):
            await admin(server.client().auth.token.lookup_self)
        # ...and no other exists: one generated now from the recovery key is the only root.
        token = await asyncio.to_thread(generate_root, hvac.Client(url=server.addr), server.home)
        root = hvac.Client(url=server.addr, token=token)
        accessors = (await admin(root.auth.token.list_accessors))["data"]["keys"]
        roots = []
        for accessor in accessors:
            data = (await admin(lambda a=accessor: root.auth.token.lookup_accessor(a)))["data"]
            if "root" in data["policies"]:
                roots.append(accessor)
        mine = (await admin(root.auth.token.lookup_self))["data"]["accessor"]
        assert roots == [mine]
        log = (server.home / "bao.log").read_text()
        assert server.root_token not in log
        assert (server.home.stat().st_mode & 0o777) == 0o700
        for key in ("unseal.key", "recovery.key"):  # the unseal material: owner-only
            assert ((server.home / key).stat().st_mode & 0o777) == 0o600
        assert (server.home / "unseal.key").read_bytes().hex() not in log
        operator = json.loads((server.home / "operator.json").read_text())
        assert operator["addr"] == server.addr
        provider = secrets_from_env("github", env=env)
        try:
            with pytest.raises(Exception, match="mcpmesh secrets set github token"):
                await provider.get("token")
        finally:
            await provider.close()
    finally:
        await server.stop()
