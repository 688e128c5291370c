"""deploy/k8s rendered with kustomize and checked against the Kubernetes API schemas, and
the security settings of every workload."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from deploy_checks import (
    K8S_VERSION,
    OPERATOR_GROUP,
    REPO,
    SERVICES,
    WORKLOAD_KINDS,
    k8s_copy,
    kubernetes_api_object,
    kustomize,
    pod_spec,
)

from mcpmesh.secrets.bootstrap import KubernetesOptions
from mcpmesh.secrets.settings import VaultSettings

TARGETS = ("base", "overlays/dev", "overlays/prod")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    k8s = k8s_copy(REPO, tmp_path_factory.mktemp("k8s"))
    return {target: kustomize(k8s / target) for target in TARGETS}


def objects(rendered: dict[str, list[dict]], kind: str, target: str = "base") -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered[target] if o["kind"] == kind}


@pytest.mark.parametrize("target", TARGETS)
def test_every_object_validates_against_the_kubernetes_api_schema(
    rendered: dict[str, list[dict]], target: str
) -> None:
    assert rendered[target]
    for obj in rendered[target]:
        if not kubernetes_api_object(obj):
            continue  # not a Kubernetes API type: see test_podmonitor_scrapes_every_service
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_podmonitor_scrapes_every_service(rendered: dict[str, list[dict]]) -> None:
    prod = rendered["overlays/prod"]
    monitors = [o for o in prod if o["apiVersion"].startswith(f"{OPERATOR_GROUP}/")]
    assert [(m["apiVersion"], m["kind"]) for m in monitors] == [
        (f"{OPERATOR_GROUP}/v1", "PodMonitor")
    ]
    (monitor,) = monitors
    assert monitor["metadata"]["namespace"] == "mcpmesh"
    assert set(monitor["spec"]) == {"selector", "podMetricsEndpoints"}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scheme"}
    assert endpoint["path"] == "/metrics" and endpoint["scheme"] == "http"
    wanted = monitor["spec"]["selector"]["matchLabels"]
    deployments = objects(rendered, "Deployment", "overlays/prod")
    selected = {
        name
        for name, deployment in deployments.items()
        if wanted.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    }
    assert selected == {f"mcpmesh-{name}" for name in SERVICES}
    for name in selected:  # the named port exists on the service's container
        ports = pod_spec(deployments[name])["containers"][0]["ports"]
        assert endpoint["port"] in {p["name"] for p in ports}
    # The dev overlay and the base render without the operator's CRDs.
    for target in ("base", "overlays/dev"):
        assert not [o for o in rendered[target] if o["apiVersion"].startswith(OPERATOR_GROUP)]


def test_the_schema_check_is_real() -> None:
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"bad": 1}},
            K8S_VERSION,
            strict=True,
        )


@pytest.mark.parametrize("target", TARGETS)
def test_every_workload_is_locked_down(rendered: dict[str, list[dict]], target: str) -> None:
    workloads = [o for o in rendered[target] if o["kind"] in WORKLOAD_KINDS]
    assert workloads
    for obj in workloads:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        pod = pod_spec(obj)
        pod_security = pod.get("securityContext", {})
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), where
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) is True, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in security["capabilities"], where
            assert security["seccompProfile"]["type"] == "RuntimeDefault", where
            assert not security.get("privileged"), where
            assert container["resources"]["requests"] and container["resources"]["limits"], where


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_has_its_full_set(rendered: dict[str, list[dict]], name: str) -> None:
    full = f"mcpmesh-{name}"
    deployment = objects(rendered, "Deployment")[full]
    assert deployment["spec"]["replicas"] >= 2
    pod = pod_spec(deployment)
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["ports"] == [
        {"name": "mcp", "containerPort": SERVICES[name], "protocol": "TCP"}
    ]
    assert pod["serviceAccountName"] == full
    assert pod["automountServiceAccountToken"] is False
    # The requestState key ring every replica shares, beside the Vault token.
    (projected,) = [v["projected"] for v in pod["volumes"] if v["name"] == "vault-token"]
    secrets = [source["secret"] for source in projected["sources"] if "secret" in source]
    assert secrets == [
        {"name": "mcpmesh-state-keys", "items": [{"key": "keys.json", "path": "state-keys.json"}]}
    ]
    assert projected["defaultMode"] == 0o400
    labels = deployment["spec"]["selector"]["matchLabels"]

    service = objects(rendered, "Service")[full]
    assert service["spec"]["selector"] == labels
    assert service["spec"].get("sessionAffinity", "None") == "None"
    hpa = objects(rendered, "HorizontalPodAutoscaler")[full]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": full,
    }
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = objects(rendered, "PodDisruptionBudget")[full]
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    assert full in objects(rendered, "ServiceAccount")
    settings = objects(rendered, "ConfigMap")[f"{full}-settings"]["data"]
    assert settings["MCPMESH_PORT"] == str(SERVICES[name])
    assert f"{full}.mcpmesh.svc" in settings["MCPMESH_ALLOWED_HOSTS"].split(",")


def _peers(rule: dict) -> list[str]:
    found = []
    for peer in rule.get("to", []) + rule.get("from", []):
        if "ipBlock" in peer:
            found.append("ipBlock")
        else:
            namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
            pods = peer.get("podSelector", {}).get("matchLabels", {})
            found.append(
                f"{namespace.get('kubernetes.io/metadata.name')}/"
                f"{pods.get('app.kubernetes.io/name') or pods.get('k8s-app')}"
            )
    return found


UPSTREAM = {
    "filesystem": [],
    "postgres": [("postgresql/postgresql", 5432)],
    "github": [("ipBlock", 443), ("ipBlock", 443)],
    "slack": [("ipBlock", 443), ("ipBlock", 443)],
}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_network_policies_default_deny_mcp_ingress_and_narrow_egress(
    rendered: dict[str, list[dict]], name: str
) -> None:
    policies = objects(rendered, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    full = f"mcpmesh-{name}"
    mine = [
        p["spec"]
        for p in policies.values()
        if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == full
    ]
    ingress = [rule for spec in mine for rule in spec.get("ingress", [])]
    # Named callers only: the ingress controller's pods and this namespace's gateways.
    (rule,) = ingress
    assert rule["ports"] == [{"port": SERVICES[name], "protocol": "TCP"}]
    assert sorted(_peers(rule)) == ["None/None", "ingress-nginx/ingress-nginx"]
    for peer in rule["from"]:
        assert peer.get("podSelector", {}).get("matchLabels"), peer  # never all pods
        assert peer.get("namespaceSelector", {"matchLabels": {"x": "y"}}).get("matchLabels")
    (gateway,) = [p for p in rule["from"] if "namespaceSelector" not in p]
    assert gateway["podSelector"]["matchLabels"] == {"mcpmesh.io/gateway": "true"}
    egress = sorted(
        (peer, port["port"])
        for spec in mine
        for rule in spec.get("egress", [])
        for peer in _peers(rule)
        for port in rule["ports"]
    )
    expected = [
        ("kube-system/kube-dns", 53),
        ("kube-system/kube-dns", 53),
        ("nats/nats", 4222),
        ("openbao/openbao", 8200),
        *UPSTREAM.get(name, []),
    ]
    assert egress == sorted(expected)
    for spec in mine:
        for rule in spec.get("egress", []):
            for peer in rule["to"]:
                if "ipBlock" in peer:  # public HTTPS only: never the cluster or metadata
                    assert "169.254.0.0/16" in peer["ipBlock"]["except"] or peer["ipBlock"][
                        "cidr"
                    ].startswith("::")


def test_vault_kubernetes_auth_matches_the_bootstrap(rendered: dict[str, list[dict]]) -> None:
    common = objects(rendered, "ConfigMap")["mcpmesh-common"]["data"]
    assert common["MCPMESH_VAULT_AUTH"] == "kubernetes"
    defaults = VaultSettings()
    namespace = KubernetesOptions(host="https://kubernetes.default.svc").namespace
    for name in SERVICES:
        deployment = objects(rendered, "Deployment")[f"mcpmesh-{name}"]
        assert deployment["metadata"]["namespace"] == namespace
        # The bootstrap binds role mcpmesh-<service> to the service account of that name.
        assert defaults.for_service(name).k8s_role == pod_spec(deployment)["serviceAccountName"]
        pod = pod_spec(deployment)
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        (token,) = [v for v in pod["volumes"] if v["name"] == "vault-token"]
        path = token["projected"]["sources"][0]["serviceAccountToken"]["path"]
        assert common["MCPMESH_VAULT_K8S_TOKEN_FILE"] == f"{mounts['vault-token']}/{path}"


def test_dev_overlay_runs_single_node_dependencies_and_the_bootstrap(
    rendered: dict[str, list[dict]],
) -> None:
    dev = rendered["overlays/dev"]
    by_kind = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in dev}
    assert ("StatefulSet", "nats", "nats") in by_kind
    assert ("Deployment", "openbao", "openbao") in by_kind
    assert ("StatefulSet", "postgresql", "postgresql") in by_kind
    jobs = {o["metadata"]["name"]: o for o in dev if o["kind"] == "Job"}
    assert set(jobs) == {"vault-bootstrap", "nats-audit-init"}
    container = pod_spec(jobs["vault-bootstrap"])["containers"][0]
    assert container["command"] == ["python", "-m", "mcpmesh.secrets.bootstrap"]
    assert "--k8s-namespace=mcpmesh" in container["args"]
    # The audit stream is made by the operator's credential, mounted in that Job only.
    audit_init = pod_spec(jobs["nats-audit-init"])
    assert audit_init["containers"][0]["command"] == ["mcpmesh", "audit", "init"]
    (secret,) = [v["secret"]["secretName"] for v in audit_init["volumes"] if "secret" in v]
    assert secret.startswith("mcpmesh-operator-nats-nkey")
    for obj in dev:
        if obj["kind"] in WORKLOAD_KINDS and obj["kind"] != "Job":
            assert obj["spec"]["replicas"] >= 1


def test_prod_overlay_scales_up(rendered: dict[str, list[dict]]) -> None:
    for name in SERVICES:
        assert (
            objects(rendered, "Deployment", "overlays/prod")[f"mcpmesh-{name}"]["spec"]["replicas"]
            >= 3
        )
        image = pod_spec(objects(rendered, "Deployment", "overlays/prod")[f"mcpmesh-{name}"])[
            "containers"
        ][0]["image"]
        assert image.endswith(f"/mcpmesh/{name}:0.1.0")


def test_templates_and_base_agree() -> None:
    """The four services' base directories are the new-service template plus their own
    settings and upstream policies: a change to the template shows up here."""
    from mcpmesh.scaffold import NewService, render_tree

    for name, port in SERVICES.items():
        for relative, text in render_tree("k8s", NewService(name, port, REPO)).items():
            actual = (REPO / "deploy/k8s/base" / name / relative).read_text()
            if relative in ("settings.yaml", "kustomization.yaml"):
                assert actual.startswith(text), (name, relative)
            else:
                assert actual == text, (name, relative)


def test_dev_secrets_file_is_ignored_by_git() -> None:
    assert "dev-secrets.env" in Path(REPO / "deploy/k8s/overlays/dev/.gitignore").read_text()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_has_its_own_nats_nkey_only(
    rendered: dict[str, list[dict]], name: str
) -> None:
    pod = pod_spec(objects(rendered, "Deployment")[f"mcpmesh-{name}"])
    secrets = [v["secret"] for v in pod["volumes"] if "secret" in v]
    assert [s["secretName"] for s in secrets] == [f"mcpmesh-{name}-nats-nkey"]
    assert secrets[0]["defaultMode"] & 0o007 == 0  # never world-readable
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    settings = objects(rendered, "ConfigMap")["mcpmesh-common"]["data"]
    assert settings["MCPMESH_NATS_NKEY_SEED_FILE"].startswith(mounts["nats-nkey"]["mountPath"])
    assert mounts["nats-nkey"]["readOnly"] is True
    # The dev overlay makes that Secret from the generated seed; NATS admits only those.
    dev = {o["metadata"]["name"] for o in rendered["overlays/dev"] if o["kind"] == "Secret"}
    assert any(s.startswith(f"mcpmesh-{name}-nats-nkey") for s in dev)


def test_dev_nats_runs_the_generated_permission_config(rendered: dict[str, list[dict]]) -> None:
    nats = next(
        o
        for o in rendered["overlays/dev"]
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "nats"
    )
    container = pod_spec(nats)["containers"][0]
    assert "--config=/etc/nats/server.json" in container["args"]
    config = next(o for o in rendered["overlays/dev"] if o["metadata"]["name"].startswith(
        "nats-server-config"))  # fmt: skip
    server = json.loads(base64.b64decode(config["data"]["server.json"]))
    users = server["authorization"]["users"]
    assert len(users) == len(SERVICES) + 1 and all(u["nkey"].startswith("U") for u in users)


def test_prod_overlay_talks_tls_to_nats(rendered: dict[str, list[dict]]) -> None:
    settings = objects(rendered, "ConfigMap", "overlays/prod")["mcpmesh-common"]["data"]
    assert settings["MCPMESH_NATS_URL"].startswith("tls://")
    ca = settings["MCPMESH_NATS_TLS_CA_FILE"]
    for deployment in objects(rendered, "Deployment", "overlays/prod").values():
        mounts = pod_spec(deployment)["containers"][0]["volumeMounts"]
        assert any(ca.startswith(m["mountPath"] + "/") for m in mounts)


# ------------------------------------------------------------------ sign-in (OAuth 2.1)


def test_services_take_an_external_issuer_by_settings(rendered: dict[str, list[dict]]) -> None:
    for target in ("base", "overlays/prod"):
        common = objects(rendered, "ConfigMap", target)["mcpmesh-common"]["data"]
        (issuer,) = common["MCPMESH_AUTH_ISSUERS"].split(",")
        assert issuer.startswith("https://"), (target, issuer)
        assert "MCPMESH_AUTH_ALLOW_UNAUTHENTICATED" not in common
        for name in SERVICES:
            settings = objects(rendered, "ConfigMap", target)[f"mcpmesh-{name}-settings"]["data"]
            resource = urlsplit(settings["MCPMESH_AUTH_RESOURCE"])
            assert resource.scheme == "https" and resource.path.endswith("/mcp"), (target, name)
            assert "MCPMESH_AUTH_ALLOW_UNAUTHENTICATED" not in settings


def test_the_services_may_fetch_keys_from_a_public_issuer_only_over_https(
    rendered: dict[str, list[dict]],
) -> None:
    policy = objects(rendered, "NetworkPolicy")["mcpmesh-authserver-egress"]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "mcp-service"}}
    assert policy["policyTypes"] == ["Egress"]
    (rule,) = policy["egress"]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
    for peer in rule["to"]:
        assert "169.254.0.0/16" in peer["ipBlock"]["except"] or peer["ipBlock"]["cidr"] == "::/0"
        assert "10.0.0.0/8" in peer["ipBlock"]["except"] or peer["ipBlock"]["cidr"] == "::/0"
    # Every service Deployment carries the label this policy selects.
    for name in SERVICES:
        labels = objects(rendered, "Deployment")[f"mcpmesh-{name}"]["spec"]["template"]
        assert labels["metadata"]["labels"]["app.kubernetes.io/component"] == "mcp-service"


def test_dev_overlay_runs_the_dev_authorization_server_the_services_trust(
    rendered: dict[str, list[dict]],
) -> None:
    dev = "overlays/dev"
    (server,) = [
        o
        for o in rendered[dev]
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "authserver"
    ]
    pod = pod_spec(server)
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data"] in {
        c["metadata"]["name"] for c in server["spec"]["volumeClaimTemplates"]
    }
    registered = {}
    for key, value in env.items():
        if key.startswith("MCPMESH_AUTHSERVER_RESOURCE_"):
            url, *scopes = value.split()
            registered[url] = scopes
    common = objects(rendered, "ConfigMap", dev)["mcpmesh-common"]["data"]
    assert common["MCPMESH_AUTH_ISSUERS"] == env["MCPMESH_AUTHSERVER_ISSUER"]
    jwks = urlsplit(common["MCPMESH_AUTH_JWKS_URL"])
    (service,) = [
        o for o in rendered[dev] if o["kind"] == "Service" and o["metadata"]["name"] == "authserver"
    ]
    assert jwks.hostname == "authserver.authserver.svc.cluster.local"
    assert jwks.port == service["spec"]["ports"][0]["port"] and jwks.path == "/jwks"
    for name in SERVICES:
        settings = objects(rendered, "ConfigMap", dev)[f"mcpmesh-{name}-settings"]["data"]
        resource = settings["MCPMESH_AUTH_RESOURCE"]
        assert resource == f"http://localhost:{SERVICES[name]}/mcp"  # a port-forward's URL
        assert registered[resource] == [f"{name}:read", f"{name}:write"]
    # Only the services reach it, and the services reach it, not the internet, for keys.
    policies = {
        o["metadata"]["name"]: o["spec"] for o in rendered[dev] if o["kind"] == "NetworkPolicy"
    }
    (ingress,) = policies["authserver"]["ingress"]
    assert _peers(ingress) == ["mcpmesh/None"]
    assert ingress["from"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/component": "mcp-service"
    }
    assert policies["authserver"].get("egress", []) == []
    (egress,) = policies["mcpmesh-authserver-egress"]["egress"]
    assert _peers(egress) == ["authserver/authserver"]
