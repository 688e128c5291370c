"""The same provider against the official OpenBao / Vault images (testcontainers).

Runs where a Docker engine can pull images; skips elsewhere, saying so. The embedded
``bao`` binary covers the same ground on every machine (the other test files).
"""

from __future__ import annotations

import secrets

import pytest

from mcpmesh.secrets import VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import BootstrapOptions, bootstrap, find_policy_dir

from .conftest import admin

IMAGES = ["openbao/openbao:2.4.1", "hashicorp/vault:1.20"]


def docker_or_skip() -> None:
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine reachable for testcontainers ({type(exc).__name__})")


@pytest.mark.parametrize("image", IMAGES)
async def test_kv_and_policy_against_the_image(image: str) -> None:
    docker_or_skip()
    import hvac
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    root_token = secrets.token_urlsafe(24)
    env_name = "BAO_DEV_ROOT_TOKEN_ID" if "openbao" in image else "VAULT_DEV_ROOT_TOKEN_ID"
    container = DockerContainer(image).with_env(env_name, root_token).with_exposed_ports(8200)
    with container:
        wait_for_logs(container, "Development mode should NOT be used", timeout=60)
        addr = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8200)}"
        root = hvac.Client(url=addr, token=root_token)
        await admin(lambda: bootstrap(root, BootstrapOptions(policy_dir=find_policy_dir())))
        await admin(
            lambda: root.secrets.kv.v2.create_or_update_secret(
                path="services/github/token", secret={"value": "from-image"}, mount_point="mcpmesh"
            )
        )
        token = await admin(lambda: root.auth.token.create(policies=["mcpmesh-github"]))
        settings = VaultSettings(addr=addr, auth="token", token=token["auth"]["client_token"])
        github = VaultSecretProvider("github", settings)
        slack_with_github_token = VaultSecretProvider("slack", settings)
        try:
            assert await github.get("token") == "from-image"
            with pytest.raises(Exception, match="policy"):
                await slack_with_github_token.get("bot_token")
        finally:
            await github.close()
            await slack_with_github_token.close()
