"""The persistent, self-unsealing OpenBao that Compose runs: the bootstrap CLI initialises
it on its first run, makes (and revokes) a root token from the recovery key on every later
run, and a restart of the server alone loses nothing (real ``bao``, static-key seal)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import hvac
import pytest

from mcpmesh.embedded.process import ManagedProcess, free_port
from mcpmesh.embedded.vault import _healthy, _server_config, bao_binary, private_dir
from mcpmesh.secrets import bootstrap


async def start_bao(home: Path, port: int, *, unsealed: bool = False) -> ManagedProcess:
    """bao with the config ``mcpmesh up`` writes; ready once it answers (or is unsealed)."""
    config = _server_config(home, port, audit=False)
    process = ManagedProcess(
        "vault", [bao_binary(), "server", f"-config={config}"], home / "bao.log"
    )
    addr = f"http://127.0.0.1:{port}"
    await process.start(lambda: _healthy(addr) if unsealed else _answers(addr), timeout=30)
    return process


async def _answers(addr: str) -> bool:
    client = hvac.Client(url=addr, timeout=1)
    try:
        await asyncio.to_thread(client.sys.read_health_status, method="GET")
    except Exception:
        return False
    return True


def run_bootstrap(addr: str, state: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("MCPMESH_VAULT_ADDR", addr)
    monkeypatch.delenv("MCPMESH_VAULT_TOKEN", raising=False)
    monkeypatch.delenv("MCPMESH_PG_ADMIN_DSN", raising=False)
    return bootstrap.main(
        [
            "--state-dir",
            str(state / "admin"),
            "--secret-id-dir",
            str(state / "ids"),
            "--operator-file",
            str(state / "operator" / "operator.json"),
        ]
    )


def read_as(addr: str, state: Path, service: str, name: str) -> str:
    client = hvac.Client(url=addr)
    secret_id = (state / "ids" / f"{service}.secret-id").read_text()
    client.auth.approle.login(role_id=f"mcpmesh-{service}", secret_id=secret_id)
    data = client.secrets.kv.v2.read_secret_version(
        path=f"services/{service}/{name}", mount_point="mcpmesh", raise_on_deleted_version=True
    )
    return str(data["data"]["data"]["value"])


async def test_bootstrap_twice_and_a_server_restart_keep_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, state = private_dir(tmp_path / "vault"), tmp_path / "state"
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    process = await start_bao(home, port)
    try:
        assert run_bootstrap(addr, state, monkeypatch) == 0  # initialises
        assert (state / "admin" / "recovery.key").stat().st_mode & 0o777 == 0o600
        assert (home / "unseal.key").stat().st_mode & 0o777 == 0o600
        operator = json.loads((state / "operator" / "operator.json").read_text())
        writer = hvac.Client(url=addr, token=operator["token"])
        writer.secrets.kv.v2.create_or_update_secret(
            path="services/github/token", secret={"value": "ghp_kept"}, mount_point="mcpmesh"
        )
        assert run_bootstrap(addr, state, monkeypatch) == 0  # idempotent, root from recovery
        # A restart of the server alone: it unseals itself, the secret ids still log in and
        # the stored token is still there; no bootstrap is needed.
        await process.stop()
        process = await start_bao(home, port, unsealed=True)
        assert await asyncio.to_thread(read_as, addr, state, "github", "token") == "ghp_kept"
    finally:
        await process.stop()
