"""Kubernetes service-account login against a real OpenBao, whose kubernetes auth
method asks a local double of the Kubernetes TokenReview API.

The double follows the official API (authentication.k8s.io/v1 TokenReview:
``POST /apis/authentication.k8s.io/v1/tokenreviews`` with ``spec.token``, answered with
``status.authenticated`` and ``status.user.{username,uid}``) and checks the request
against it: kind, apiVersion, the reviewer's bearer token, and the token under review.
"""

from __future__ import annotations

import datetime
import time
import uuid
from pathlib import Path

import jwt
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mcpmesh.secrets import SecretUnavailable, VaultSecretProvider, VaultSettings
from mcpmesh.secrets.bootstrap import (
    BootstrapOptions,
    KubernetesOptions,
    bootstrap,
    find_policy_dir,
)

from .conftest import VaultKit, admin

NAMESPACE = "mcpmesh"
REVIEWER_JWT = "reviewer-" + uuid.uuid4().hex


def cluster_ca() -> str:
    """A CA certificate like the cluster's (Vault insists on one; the double is plain HTTP)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def service_account_token(name: str, uid: str) -> str:
    """A projected service account token as the kubelet mounts it (claims per k8s docs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": f"system:serviceaccount:{NAMESPACE}:{name}",
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "kubernetes.io": {"namespace": NAMESPACE, "serviceaccount": {"name": name, "uid": uid}},
    }
    return jwt.encode(claims, key, algorithm="ES256")


class TokenReviewDouble:
    def __init__(self) -> None:
        self.valid: dict[str, tuple[str, str]] = {}  # token -> (name, uid)
        self.reviews = 0

    async def review(self, request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == f"Bearer {REVIEWER_JWT}"
        body = await request.json()
        # kind/apiVersion are optional in a request body (the URL names the type).
        assert body.get("kind", "TokenReview") == "TokenReview"
        assert body.get("apiVersion", "authentication.k8s.io/v1") == "authentication.k8s.io/v1"
        token = body["spec"]["token"]
        self.reviews += 1
        known = self.valid.get(token)
        status: dict = {"authenticated": False}
        if known:
            name, uid = known
            status = {
                "authenticated": True,
                "user": {
                    "username": f"system:serviceaccount:{NAMESPACE}:{name}",
                    "uid": uid,
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"],
                },
                "audiences": body["spec"].get("audiences") or [],
            }
        return web.json_response(
            {
                "kind": "TokenReview",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": body["spec"],
                "status": status,
            },
            status=201,
        )


@pytest.fixture
async def kube(kit: VaultKit):
    double = TokenReviewDouble()
    app = web.Application()
    app.router.add_post("/apis/authentication.k8s.io/v1/tokenreviews", double.review)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    options = BootstrapOptions(
        policy_dir=find_policy_dir(),
        kubernetes=KubernetesOptions(
            host=f"http://127.0.0.1:{port}",
            ca_cert=cluster_ca(),
            token_reviewer_jwt=REVIEWER_JWT,
            namespace=NAMESPACE,
        ),
    )
    await admin(lambda: bootstrap(kit.root, options))
    yield double
    await runner.cleanup()


def provider_for(kit: VaultKit, service: str, token_file: Path) -> VaultSecretProvider:
    settings = VaultSettings(
        addr=kit.server.addr, auth="kubernetes", k8s_token_file=str(token_file)
    )
    provider = VaultSecretProvider(service, settings)
    kit.providers.append(provider)
    return provider


async def test_service_account_login_reads_its_own_secret(
    kit: VaultKit, kube: TokenReviewDouble, tmp_path: Path
) -> None:
    await kit.write("services/slack/bot_token", "xoxb-1-2-viakubernetes")
    uid = str(uuid.uuid4())
    token = service_account_token("mcpmesh-slack", uid)
    kube.valid[token] = ("mcpmesh-slack", uid)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    provider = provider_for(kit, "slack", token_file)
    assert await provider.get("bot_token") == "xoxb-1-2-viakubernetes"
    assert kube.reviews >= 1


async def test_another_service_account_is_refused(
    kit: VaultKit, kube: TokenReviewDouble, tmp_path: Path
) -> None:
    uid = str(uuid.uuid4())
    token = service_account_token("mcpmesh-github", uid)
    kube.valid[token] = ("mcpmesh-github", uid)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    # The GitHub pod's account asks for the Slack role: Vault refuses the login.
    provider = provider_for(kit, "slack", token_file)
    with pytest.raises(SecretUnavailable, match="kubernetes login"):
        await provider.get("bot_token")
