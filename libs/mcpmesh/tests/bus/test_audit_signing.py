"""Signed checkpoints: each service signs its chains' heads with its own Vault Transit
key (a real OpenBao dev server, bootstrapped as `mcpmesh up` does), and ``mcpmesh audit
verify`` names what someone who can publish on NATS but cannot sign tried to slip in."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import hvac
import msgspec
import nats
import pytest

from mcpmesh import Context, Service
from mcpmesh.bus.audit import (
    CHAIN_HEADER,
    CHECKPOINT_HEADER,
    HASH_HEADER,
    PREV_HEADER,
    SEQ_HEADER,
    AuditEvent,
    Checkpoint,
    audit_stream_name,
    chain_hash,
    read_stream,
)
from mcpmesh.bus.settings import BusSettings
from mcpmesh.embedded.vault import VaultServer, start_vault
from mcpmesh.secrets import SecretUnavailable, VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import (
    BootstrapOptions,
    bootstrap,
    create_operator_token,
    find_policy_dir,
)
from mcpmesh.testing import RawClient


class Vault:
    def __init__(self, server: VaultServer, tmp_path: Path) -> None:
        self.server = server
        self.root = server.client()
        self.tmp_path = tmp_path
        self.providers: list[VaultSecretProvider] = []

    def provider(self, service: str, login_as: str | None = None) -> VaultSecretProvider:
        """The provider a service gets under `mcpmesh up` (AppRole of ``login_as``)."""
        role = f"mcpmesh-{login_as or service}"
        secret_id = self.root.auth.approle.generate_secret_id(role_name=role)["data"]
        file = self.tmp_path / f"{role}.secret-id"
        file.write_text(secret_id["secret_id"])
        settings = VaultSettings(
            addr=self.server.addr, auth="approle", role_id=role, secret_id_file=str(file)
        )
        provider = VaultSecretProvider(service, settings)
        self.providers.append(provider)
        return provider


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[Vault]:
    server = await start_vault(tmp_path)
    made = Vault(server, tmp_path)
    try:
        options = BootstrapOptions(policy_dir=find_policy_dir())
        await asyncio.to_thread(bootstrap, made.root, options)
        yield made
    finally:
        for provider in made.providers:
            await provider.close()
        await server.stop()


class Note(msgspec.Struct):
    text: str


def build(secrets: VaultSecretProvider) -> Service:
    service = Service("github", version="0", secrets=secrets)

    @service.tool()
    async def note(ctx: Context, args: Note) -> str:
        """Echoes."""
        return args.text

    return service


def run_verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcpmesh", "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def verify_cli(settings: BusSettings, vault: Vault, token: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MCPMESH_NATS_URL": settings.url,
        "MCPMESH_NATS_PREFIX": settings.prefix,
        "MCPMESH_VAULT_ADDR": vault.server.addr,
        "MCPMESH_VAULT_TOKEN": token,
    }
    return run_verify(env)


async def test_a_service_cannot_sign_for_another_nor_read_its_key(vault: Vault) -> None:
    github = vault.provider("github")
    signature = await github.sign_checkpoint(b"head")
    assert signature.startswith("vault:v1:")
    # slack's Vault login asking for github's key: its policy does not allow it.
    pretender = vault.provider("github", login_as="slack")
    with pytest.raises(SecretUnavailable, match="does not allow transit/sign/audit-github"):
        await pretender.sign_checkpoint(b"head")
    # No one but root reads or exports a key; github's own token cannot either.
    token = github._client.token
    client = hvac.Client(url=vault.server.addr, token=token)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.transit.export_key(name="audit-github", key_type="signing-key")
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.transit.read_key(name="audit-github")


async def forge_block(js: Any, stream: str, chain: str, text: bytes) -> int:
    """What a credential that may publish on the audit subject, but has no signing key,
    can do: append a perfectly chained event after the current head."""
    blocks = [m async for m in read_stream(js, stream) if m.chain == chain and not m.checkpoint]
    head = max(blocks, key=lambda b: b.last)
    seq = head.last + 1
    event = AuditEvent(
        time=0.0, service="github", replica=chain.split(".")[1], kind="tool",
        outcome="ok", duration_ms=0.1, tool="merge_pull_request",
    )  # fmt: skip
    body = msgspec.json.encode(event) + text
    headers = {
        CHAIN_HEADER: chain,
        SEQ_HEADER: str(seq),
        PREV_HEADER: head.hash,
        HASH_HEADER: chain_hash(head.hash, chain, seq, body),
    }
    await js.publish(f"{stream.split('_')[0].lower()}.audit.{chain}", body, headers=headers)
    return seq


async def test_forged_events_and_checkpoints_are_caught(
    vault: Vault, bus_settings: BusSettings, replica: Any
) -> None:
    settings = msgspec.structs.replace(bus_settings, audit_checkpoint_events=5)
    operator = create_operator_token(vault.root)
    slack = vault.provider("slack")
    stream = audit_stream_name(settings.prefix)
    nc = await nats.connect(settings.url)
    js = nc.jetstream()
    try:
        async with (
            replica(build(vault.provider("github")), settings) as a,
            aiohttp.ClientSession() as http,
        ):
            client = RawClient(http, a.url)
            await client.initialize()
            for i in range(12):
                await client.call("tools/call", {"name": "note", "arguments": {"text": f"{i}"}})
            await asyncio.wait_for(a.bus.auditor.flushed(), 10)
            auditor = a.bus.auditor
            chain = auditor.chain
            intact = await asyncio.to_thread(verify_cli, settings, vault, operator)
            assert intact.returncode == 0, intact.stdout + intact.stderr
            assert "covered by signed checkpoints" in intact.stdout
            assert "UNSIGNED" not in intact.stdout
            # The forger appends a chained event; the replica goes on with its own.
            forged = await forge_block(js, stream, chain, b"")
            for i in range(3):
                await client.call("tools/call", {"name": "note", "arguments": {"text": f"x{i}"}})
            await asyncio.wait_for(auditor.flushed(), 10)
            # A checkpoint "signed" by nobody, and one signed with slack's own key.
            fake = Checkpoint(
                chain=chain, seq=99, hash="f" * 64, time=0.0, signature="vault:v1:AAAA"
            )
            data = Checkpoint(chain=chain, seq=98, hash="e" * 64, time=0.0).signed_data()
            wrong_key = msgspec.structs.replace(
                fake, seq=98, hash="e" * 64, signature=await slack.sign_checkpoint(data)
            )
            # And an unsigned one claiming the forged event: with Vault at hand it counts
            # for nothing (anyone can write an unsigned checkpoint).
            unsigned = Checkpoint(chain=chain, seq=forged, hash="d" * 64, time=0.0)
            for point in (fake, wrong_key, unsigned):
                await js.publish(
                    f"{settings.prefix}.audit.{chain}",
                    msgspec.json.encode(point),
                    headers={CHAIN_HEADER: chain, CHECKPOINT_HEADER: "1"},
                )
        # The replica stopped (final checkpoint); then one more forged event.
        after = await forge_block(js, stream, chain, b" ")
    finally:
        await nc.close()
    done = await asyncio.to_thread(verify_cli, settings, vault, operator)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert f"chain {chain}: event {forged} (stream seq" in out and "forged: no signed" in out
    assert f"chain {chain}: event {after} (stream seq" in out and "final checkpoint" in out
    assert out.count("its signature does not verify (forged checkpoint)") == 2
    assert "audit trail BROKEN" in out
    # Without Vault the verifier says what it could not check.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPMESH_VAULT")}
    env.update(MCPMESH_NATS_URL=settings.url, MCPMESH_NATS_PREFIX=settings.prefix,
               MCPMESH_WORKDIR=str(vault.tmp_path / "nowhere"))  # fmt: skip
    blind = await asyncio.to_thread(run_verify, env)
    assert "signatures NOT checked" in blind.stdout
