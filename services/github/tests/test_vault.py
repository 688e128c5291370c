"""Credentials from a real Vault (OpenBao dev server), logged in by AppRole as under
`mcpmesh up`: a refused login is reported as itself, never as "no credentials set"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import Mesh
from github_double import GitHubDouble

from mcpmesh.embedded.vault import VaultServer, start_vault
from mcpmesh.secrets import VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir, issue_secret_ids
from mcpmesh.testing import text_of


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[VaultServer]:
    server = await start_vault(tmp_path)
    try:
        options = BootstrapOptions(policy_dir=find_policy_dir(), services=("github",))
        await asyncio.to_thread(bootstrap, server.client(), options)
        yield server
    finally:
        await server.stop()


async def provider(vault: VaultServer, tmp_path: Path, secret_id: str) -> VaultSecretProvider:
    file = tmp_path / "github.secret-id"
    file.write_text(secret_id)
    settings = VaultSettings(
        addr=vault.addr, auth="approle", role_id="mcpmesh-github", secret_id_file=str(file)
    )
    return VaultSecretProvider("github", settings)


async def test_token_comes_from_vault_and_a_missing_one_says_how_to_set_it(
    mesh: Mesh, double: GitHubDouble, vault: VaultServer, tmp_path: Path
) -> None:
    secret_id = (await asyncio.to_thread(issue_secret_ids, vault.client(), ["github"]))["github"]
    secrets = await provider(vault, tmp_path, secret_id)
    try:
        async with mesh.session(secrets=secrets) as session:
            missing = await session.call_tool("get_me", {})
        assert missing.is_error and "No GitHub credentials are set" in text_of(missing)
        assert "mcpmesh secrets set github token" in text_of(missing)
        assert not double.requests
    finally:
        await secrets.close()

    await asyncio.to_thread(
        lambda: vault.client().secrets.kv.v2.create_or_update_secret(
            path="services/github/token", secret={"value": double.PAT}, mount_point="mcpmesh"
        )
    )
    secrets = await provider(vault, tmp_path, secret_id)
    try:
        async with mesh.session(secrets=secrets) as session:
            found = await session.call_tool("get_me", {})
        assert not found.is_error, text_of(found)
        assert double.PAT not in text_of(found)
    finally:
        await secrets.close()


async def test_a_refused_approle_login_is_reported_as_the_cause(
    mesh: Mesh, double: GitHubDouble, vault: VaultServer, tmp_path: Path
) -> None:
    """As after a Vault restart that lost the AppRole's secret ids: the login is refused.
    The answer names that (and the fix), not "no credentials are set"."""
    await asyncio.to_thread(
        lambda: vault.client().secrets.kv.v2.create_or_update_secret(
            path="services/github/token", secret={"value": double.PAT}, mount_point="mcpmesh"
        )
    )
    secrets = await provider(vault, tmp_path, "0f0e0d0c-not-a-secret-id-of-this-vault")
    try:
        async with mesh.session(secrets=secrets) as session:
            refused = await session.call_tool("get_me", {})
    finally:
        await secrets.close()
    assert refused.is_error
    assert "Vault refused the github service's approle login" in text_of(refused)
    assert "No GitHub credentials are set" not in text_of(refused)
    assert not double.requests
