"""Callers' own credentials readable only with the caller's identity (``user_auth=jwt``),
against a real OpenBao and the real authorization server: the service reads alice's
token with a Vault token obtained from alice's access token; its own AppRole identity
cannot read any caller's path; alice's Vault token cannot read bob's; a token issued for
another service is refused by Vault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
import pytest_asyncio
from multidict import CIMultiDict

from mcpmesh.auth import Authenticator, Principal
from mcpmesh.embedded.authserver import AuthServer
from mcpmesh.embedded.vault import VaultServer, start_vault
from mcpmesh.secrets import SecretUnavailable, VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir

from .conftest import GITHUB, SLACK, authorization_code_token, settings_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = "ghp_" + "A1ice" * 7 + "x"
BOB = "ghp_" + "B0b" * 12
SHARED = "ghp_" + "Shared" * 6


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vault(as_workdir: Path, authserver: AuthServer) -> AsyncIterator[VaultServer]:
    server = await start_vault(as_workdir / "vault")
    root = server.client()

    def set_up() -> None:
        options = BootstrapOptions(
            policy_dir=find_policy_dir(),
            users_issuer=authserver.issuer,
            users_resources={"github": GITHUB, "slack": SLACK},
        )
        bootstrap(root, options)
        bootstrap(root, options)  # idempotent: the fence is not written twice
        rules = root.sys.read_policy(name="mcpmesh-github")["data"]["rules"]
        assert rules.count('capabilities = ["deny"]') == 1
        for path, value in (
            ("services/github/principals/alice/token", ALICE),
            ("services/github/principals/bob/token", BOB),
            ("services/github/token", SHARED),
        ):
            root.secrets.kv.v2.create_or_update_secret(
                path=path, secret={"value": value}, mount_point="mcpmesh"
            )

    await asyncio.to_thread(set_up)
    try:
        yield server
    finally:
        await server.stop()


async def _provider(vault: VaultServer, **settings: object) -> VaultSecretProvider:
    root = vault.client()
    secret_id = await asyncio.to_thread(
        lambda: root.auth.approle.generate_secret_id(role_name="mcpmesh-github")["data"][
            "secret_id"
        ]
    )
    file = Path(vault.home) / "github.secret-id"
    file.write_text(secret_id)
    config = VaultSettings(
        addr=vault.addr,
        auth="approle",
        role_id="mcpmesh-github",
        secret_id_file=str(file),
        **settings,  # type: ignore[arg-type]
    )
    return VaultSecretProvider("github", config)


async def _principal(authserver: AuthServer, user: str, resource: str = GITHUB) -> Principal:
    token = (await authorization_code_token(authserver, resource, ["github:read"], user=user))[
        "access_token"
    ]
    async with Authenticator(settings_for(authserver, resource)) as checker:
        return await checker.authenticate(
            "POST", resource, CIMultiDict({"Authorization": f"Bearer {token}"})
        )


async def test_own_credentials_are_read_with_the_callers_identity(
    vault: VaultServer, authserver: AuthServer
) -> None:
    alice = await _principal(authserver, "alice")
    bob = await _principal(authserver, "bob")
    assert alice.access_token and "access_token='***'" in repr(alice)
    assert alice.access_token not in repr(alice)
    provider = await _provider(vault, user_auth="jwt", principal_fallback=False)
    try:
        own = await provider.get("token", principal=alice)
        assert own == ALICE and own.kind == "user"
        theirs = await provider.get("token", principal=bob)
        assert theirs == BOB and theirs.kind == "user"
        shared = await provider.get("token")  # the service's own, with its own identity
        assert shared == SHARED and shared.kind == "shared"
        # the key alone (no access token) cannot read anyone's own secret
        with pytest.raises(SecretUnavailable, match="needs the caller's access token"):
            await provider.get("other", principal="alice")
    finally:
        await provider.close()


async def test_the_services_own_identity_reads_no_callers_credentials(
    vault: VaultServer,
) -> None:
    provider = await _provider(vault, user_auth="service", principal_fallback=False)
    try:
        with pytest.raises(SecretUnavailable, match="does not allow reading"):
            await provider.get("token", principal="alice")
    finally:
        await provider.close()


async def test_a_callers_vault_token_reads_only_that_callers_path(
    vault: VaultServer, authserver: AuthServer
) -> None:
    alice = await _principal(authserver, "alice")

    def as_alice() -> tuple[str, bool]:
        client = hvac.Client(url=vault.addr, token="")
        login = client.auth.jwt.jwt_login(
            role="github", jwt=alice.access_token, use_token=False, path="mcpmesh-users"
        )
        client.token = login["auth"]["client_token"]
        own = client.secrets.kv.v2.read_secret_version(
            path="services/github/principals/alice/token",
            mount_point="mcpmesh",
            raise_on_deleted_version=True,
        )["data"]["data"]["value"]
        try:
            client.secrets.kv.v2.read_secret_version(
                path="services/github/principals/bob/token",
                mount_point="mcpmesh",
                raise_on_deleted_version=True,
            )
        except hvac.exceptions.Forbidden:
            return own, False
        return own, True

    own, read_bobs = await asyncio.to_thread(as_alice)
    assert own == ALICE and not read_bobs


async def test_vault_refuses_a_token_issued_for_another_service(
    vault: VaultServer, authserver: AuthServer
) -> None:
    """Alice's token for Slack does not open the GitHub role: a compromised Slack service
    cannot read Alice's GitHub credentials with the tokens it receives."""
    for_slack = await _principal(authserver, "alice", SLACK)
    provider = await _provider(vault, user_auth="jwt")
    try:
        with pytest.raises(SecretUnavailable, match="Vault refused the caller's token"):
            await provider.get("token", principal=for_slack)
    finally:
        await provider.close()
