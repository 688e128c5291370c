"""The token from a real Vault (OpenBao dev server), logged in by AppRole as under
`mcpmesh up`: fetched on demand, never shown, and a missing one explained."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_double import SlackDouble
from slack_harness import BOT

from mcpmesh.config import ServerSettings
from mcpmesh.embedded.vault import VaultServer, start_vault
from mcpmesh.secrets import VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir, issue_secret_ids
from mcpmesh.testing import sdk_session, serve_in_background, text_of
from mcpmesh_slack.service import create
from mcpmesh_slack.settings import SlackSettings


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[VaultServer]:
    server = await start_vault(tmp_path)
    try:
        root = server.client()
        options = BootstrapOptions(policy_dir=find_policy_dir(), services=("slack", "github"))
        await asyncio.to_thread(bootstrap, root, options)
        yield server
    finally:
        await server.stop()


async def provider_for(vault: VaultServer, service: str, tmp_path: Path) -> VaultSecretProvider:
    secret_ids = await asyncio.to_thread(issue_secret_ids, vault.client(), [service])
    file = tmp_path / f"{service}.secret-id"
    file.write_text(secret_ids[service])
    settings = VaultSettings(
        addr=vault.addr, auth="approle", role_id=f"mcpmesh-{service}", secret_id_file=str(file)
    )
    return VaultSecretProvider(service, settings)


async def call(service, tool: str, args: dict):  # type: ignore[no-untyped-def]
    async with (
        serve_in_background(service) as running,
        sdk_session(running.url) as session,
    ):
        return await session.call_tool(tool, args)


async def test_token_comes_from_vault_on_demand(
    vault: VaultServer, slack: SlackDouble, tmp_path: Path
) -> None:
    root = vault.client()
    secrets = await provider_for(vault, "slack", tmp_path)
    service = create(ServerSettings(), slack=SlackSettings(api_url=slack.url), secrets=secrets)
    missing = await call(service, "list_channels", {})
    assert missing.is_error and "mcpmesh secrets set slack bot_token" in text_of(missing)
    assert not slack.requests

    await asyncio.to_thread(
        lambda: root.secrets.kv.v2.create_or_update_secret(
            path="services/slack/bot_token", secret={"value": BOT}, mount_point="mcpmesh"
        )
    )
    secrets = await provider_for(vault, "slack", tmp_path)  # a fresh cache
    service = create(ServerSettings(), slack=SlackSettings(api_url=slack.url), secrets=secrets)
    found = await call(service, "list_channels", {})
    assert not found.is_error, text_of(found)
    assert "general" in {c["name"] for c in found.structured_content["channels"]}
    assert BOT not in text_of(found)


async def test_another_services_role_cannot_read_the_slack_token(
    vault: VaultServer, slack: SlackDouble, tmp_path: Path
) -> None:
    """Least privilege: the github role's policy does not reach services/slack/."""
    await asyncio.to_thread(
        lambda: vault.client().secrets.kv.v2.create_or_update_secret(
            path="services/slack/bot_token", secret={"value": BOT}, mount_point="mcpmesh"
        )
    )
    github = await provider_for(vault, "github", tmp_path)
    stolen = VaultSecretProvider("slack", github.settings)  # github's login, slack's path
    service = create(ServerSettings(), slack=SlackSettings(api_url=slack.url), secrets=stolen)
    result = await call(service, "list_channels", {})
    await github.close()
    assert result.is_error and "does not allow reading" in text_of(result)
    assert BOT not in text_of(result)
    assert not slack.requests
