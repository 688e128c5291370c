"""docker-compose.yml survives restarts: OpenBao persists and unseals itself (its very
config file runs in a real ``bao`` here, restarted once), health means readiness, the
tools container reaches NATS, and nginx re-resolves the replicas."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import hvac
import pytest
from deploy_checks import REPO, compose_model

from mcpmesh.embedded.process import ManagedProcess, free_port
from mcpmesh.embedded.vault import _healthy, bao_binary, private_dir
from mcpmesh.secrets import bootstrap


@pytest.fixture(scope="module")
def model() -> dict:
    return compose_model(REPO, "replicas", "tools")


def test_vault_is_persistent_self_unsealing_and_needs_no_root_token(model: dict) -> None:
    services = model["services"]
    vault = services["vault"]
    assert "-dev" not in " ".join(vault["command"]) and "-config=" in " ".join(vault["command"])
    (state,) = [v for v in vault["volumes"] if v["type"] == "volume"]
    assert state["source"] == "vault" and "vault" in model["volumes"]
    assert vault["depends_on"]["vault-seal"]["condition"] == "service_completed_successfully"
    seal = services["vault-seal"]
    assert "--make-seal-key" in seal["command"]
    assert [v["source"] for v in seal["volumes"]] == ["vault"]
    # The seal key's volume is Vault's and the seal one-shot's only.
    for name, service in services.items():
        if name not in ("vault", "vault-seal"):
            assert "vault" not in [v.get("source") for v in service.get("volumes", [])], name
    script = " ".join(services["vault-bootstrap"]["command"])
    assert "--state-dir" in script and "--operator-file" in script
    assert "MCPMESH_VAULT_TOKEN" not in services["vault-bootstrap"]["environment"]
    raw = (REPO / "docker-compose.yml").read_text()
    assert "-dev" not in re.findall(r"command: \[([^\]]*)\]", raw.split("  vault:\n", 1)[1])[0]
    assert (
        "DEV_ROOT_TOKEN" not in raw and "DEV_ROOT_TOKEN" not in (REPO / ".env.example").read_text()
    )


def test_tools_container_reaches_nats_and_the_operator_token(model: dict) -> None:
    tools = model["services"]["mcpmesh"]
    assert tools["environment"]["MCPMESH_NATS_URL"] == "nats://nats:4222"
    assert tools["depends_on"]["nats"]["condition"] == "service_healthy"
    assert tools["depends_on"]["vault-bootstrap"]["condition"] == "service_completed_successfully"
    mounts = {mount["source"]: mount for mount in tools["volumes"]}
    assert set(mounts) == {"approle", "nats-seeds"}  # the operator's token and NKEY only
    for mount in mounts.values():
        assert mount["read_only"] is True and mount["volume"]["subpath"] == "operator"
    assert mounts["approle"]["target"] == tools["environment"]["MCPMESH_WORKDIR"]
    seed = tools["environment"]["MCPMESH_NATS_NKEY_SEED_FILE"]
    assert seed.startswith(mounts["nats-seeds"]["target"] + "/")


def test_nginx_re_resolves_the_replicas(model: dict) -> None:
    lb = model["services"]["filesystem-lb"]
    (mount,) = [v for v in lb["volumes"] if v["target"] == "/etc/nginx/nginx.conf"]
    conf = Path(mount["source"]).read_text()
    assert re.search(r"^\s*resolver\s+127\.0\.0\.11\s+valid=\d+s", conf, re.M)
    upstream = re.search(r"upstream\s+\w+\s*\{(.*?)\}", conf, re.S).group(1)
    assert re.search(r"^\s*zone\s+\w+\s+\d+k;", upstream, re.M)
    assert re.search(r"server\s+filesystem-replicas:8701\s+resolve\b", upstream)


def compose_vault_config(home: Path, port: int) -> Path:
    """deploy/compose/vault/config.hcl with its container paths and port moved to ``home``."""
    text = (REPO / "deploy" / "compose" / "vault" / "config.hcl").read_text()
    text = text.replace("/openbao/state", str(home)).replace("0.0.0.0:8200", f"127.0.0.1:{port}")
    text = text.replace('"http://vault:8201"', f'"http://127.0.0.1:{free_port()}"')
    text = text.replace('"http://vault:8200"', f'"http://127.0.0.1:{port}"')
    (home / "raft").mkdir(mode=0o700, exist_ok=True)
    path = home / "config.hcl"
    path.write_text(text)
    return path


async def test_the_compose_vault_config_keeps_secrets_across_a_restart(tmp_path: Path) -> None:
    home = private_dir(tmp_path / "vault")
    bootstrap.make_seal_key(home / "seal" / "key")  # what the vault-seal one-shot does
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    argv = [bao_binary(), "server", f"-config={compose_vault_config(home, port)}"]

    async def answers() -> bool:
        try:
            await asyncio.to_thread(hvac.Client(url=addr, timeout=1).sys.is_initialized)
        except Exception:
            return False
        return True

    process = ManagedProcess("vault", argv, home / "bao.log")
    await process.start(answers, timeout=30)
    try:
        client = hvac.Client(url=addr)
        root = hvac.Client(url=addr, token=bootstrap.root_token(client, tmp_path / "admin"))
        root.sys.enable_secrets_engine("kv", path="mcpmesh", options={"version": "2"})
        for _ in range(100):  # the KV v2 upgrade takes a moment after the mount
            try:
                root.secrets.kv.v2.create_or_update_secret(
                    path="t", secret={"v": "kept"}, mount_point="mcpmesh"
                )
                break
            except hvac.exceptions.InvalidRequest:
                await asyncio.sleep(0.1)
        root.auth.token.revoke_self()
        await process.stop()
        process = ManagedProcess("vault", argv, home / "bao.log")
        await process.start(lambda: _healthy(addr), timeout=30)  # unsealed on its own
        again = hvac.Client(url=addr, token=bootstrap.root_token(client, tmp_path / "admin"))
        data = again.secrets.kv.v2.read_secret_version(
            path="t", mount_point="mcpmesh", raise_on_deleted_version=True
        )
        assert data["data"]["data"]["v"] == "kept"
        again.auth.token.revoke_self()
    finally:
        await process.stop()
