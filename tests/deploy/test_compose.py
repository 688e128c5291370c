"""docker-compose.yml against the Compose specification, and what the mesh needs of it."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import jsonschema
import pytest
import yaml
from deploy_checks import COMPOSE_ENV, REPO, SERVICES, compose_config, compose_model, compose_schema

from mcpmesh.embedded.authserver import authserver_dir, node_binary, request_dev_token
from mcpmesh.embedded.postgres import DEMO_SCHEMA, start_postgres
from mcpmesh.embedded.process import ManagedProcess, free_port

PROFILES = ("replicas", "tools", "observability")


@pytest.fixture(scope="module")
def model() -> dict:
    return compose_model(REPO, *PROFILES)


def test_compose_cli_accepts_the_file_with_every_profile() -> None:
    for profiles in ((), ("replicas",), ("tools",), ("observability",), PROFILES):
        result = compose_config(REPO, *profiles)
        assert result.returncode == 0, (profiles, result.stderr)


def test_file_and_resolved_model_validate_against_the_compose_schema(model: dict) -> None:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for document in (raw, model):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    # The schema is the real one: it rejects what Compose rejects.
    broken = {**raw, "services": {"x": {"image": "a", "read_only": "maybe", "bogus": 1}}}
    assert list(validator.iter_errors(broken))


def test_missing_dev_secrets_stop_compose_with_the_variable_named() -> None:
    result = compose_config(REPO, env={})
    assert result.returncode != 0
    assert "MCPMESH_" in result.stderr and ".env.example" in result.stderr


def test_backends_nats_jetstream_persistent_vault_bootstrap_postgres(model: dict) -> None:
    services = model["services"]
    nats = services["nats"]
    assert "--jetstream" in nats["command"]
    store = next(a for a in nats["command"] if a.startswith("--store_dir="))
    assert any(
        v["type"] == "volume" and v["target"] == store.split("=", 1)[1] for v in nats["volumes"]
    )
    assert "server" in services["vault"]["command"] and "healthcheck" in services["vault"]
    bootstrap = services["vault-bootstrap"]
    assert "mcpmesh.secrets.bootstrap" in " ".join(bootstrap["command"])
    assert bootstrap["depends_on"]["vault"]["condition"] == "service_healthy"
    assert bootstrap["depends_on"]["postgresql"]["condition"] == "service_healthy"
    database = services["postgresql"]
    assert database["environment"]["POSTGRES_DB"] == "demo"
    targets = {v["target"] for v in database["volumes"]}
    assert "/docker-entrypoint-initdb.d/10-demo.sql" in targets


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_hardened_local_only_and_waits_for_health(model: dict, name: str) -> None:
    service = model["services"][name]
    assert service["build"]["args"]["SERVICE"] == name
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert any(t.startswith("/tmp") for t in service["tmpfs"])
    ports = service["ports"]
    assert [(p["host_ip"], p["target"]) for p in ports] == [("127.0.0.1", SERVICES[name])]
    assert service["environment"]["MCPMESH_PORT"] == str(SERVICES[name])
    depends = service["depends_on"]
    assert depends["nats"]["condition"] == "service_healthy"
    assert depends["vault-bootstrap"]["condition"] == "service_completed_successfully"
    # Each service mounts only its own AppRole secret id.
    secret_mounts = [v for v in service["volumes"] if v.get("source") == "approle"]
    assert [(m["volume"]["subpath"], m["read_only"]) for m in secret_mounts] == [(name, True)]
    assert service["environment"]["MCPMESH_VAULT_SECRET_ID_FILE"].startswith(
        secret_mounts[0]["target"] + "/"
    )
    assert "MCPMESH_VAULT_TOKEN" not in service["environment"]


def test_every_published_port_is_on_loopback(model: dict) -> None:
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name


def test_replicas_profile_round_robins_three_replicas_without_affinity(model: dict) -> None:
    replicas = model["services"]["filesystem-replicas"]
    assert replicas["deploy"]["replicas"] == 3
    assert "ports" not in replicas
    lb = model["services"]["filesystem-lb"]
    assert lb["depends_on"]["filesystem-replicas"]["condition"] == "service_healthy"
    (mount,) = [v for v in lb["volumes"] if v["target"] == "/etc/nginx/nginx.conf"]
    conf = Path(mount["source"]).read_text()
    upstream = re.search(r"upstream\s+\w+\s*\{(.*?)\}", conf, re.S).group(1)
    assert "filesystem-replicas:8701" in upstream
    for sticky in ("ip_hash", "hash ", "sticky", "least_conn", "random"):
        assert sticky not in upstream
    assert "proxy_buffering off" in conf  # SSE events pass at once


def test_every_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO / "docker-compose.yml").read_text()))
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    assert used - documented == set()
    # The dev secrets have no value in the example: nobody runs with a published one.
    for secret in COMPOSE_ENV:
        assert re.search(rf"^{secret}=$", example, re.M)


def test_demo_database_sql_matches_mcpmesh_up() -> None:
    """Compose mounts the library's own demo.sql; kustomize cannot load files outside its
    directory, so the dev overlay keeps a copy, which must not drift."""
    compose = (REPO / "docker-compose.yml").read_text()
    assert "./libs/mcpmesh/src/mcpmesh/embedded/demo.sql:/docker-entrypoint-initdb.d/" in compose
    copy = REPO / "deploy/k8s/overlays/dev/postgresql-initdb.sql"
    assert DEMO_SCHEMA.split("\n", 2)[2].strip() in copy.read_text(), f"{copy} is out of date"


async def test_demo_database_sql_runs_on_a_real_postgresql(tmp_path: Path) -> None:
    cluster = await start_postgres(tmp_path)
    try:
        await cluster.psql("CREATE DATABASE demo;")
        for script in (
            "libs/mcpmesh/src/mcpmesh/embedded/demo.sql",
            "deploy/compose/postgres-initdb/20-pg-stat-statements.sql",
        ):
            await cluster.psql((REPO / script).read_text(), "demo")
        count = await cluster.psql("SELECT count(*) FROM orders;", "demo")
        roles = await cluster.psql(
            "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles "
            "WHERE rolname LIKE 'mcpmesh_%';",
            "demo",
        )
    finally:
        await cluster.stop()
    assert count.strip() == "200"
    assert roles.strip() == "mcpmesh_read,mcpmesh_reader,mcpmesh_write"


def test_nats_authenticates_every_component_and_is_hardened(model: dict) -> None:
    services = model["services"]
    nats = services["nats"]
    assert "--config=/etc/nats/server.json" in nats["command"]
    assert nats["user"] != "root" and not nats["user"].startswith("0")
    assert nats["read_only"] is True and nats["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in nats["security_opt"]
    assert nats["depends_on"]["nats-credentials"]["condition"] == ("service_completed_successfully")
    config = next(v for v in nats["volumes"] if v["target"] == "/etc/nats")
    assert config["source"] == "nats-config" and config["read_only"] is True
    init = services["nats-audit-init"]
    assert init["command"] == ["audit", "init"]
    assert [v["volume"]["subpath"] for v in init["volumes"]] == ["operator"]
    maker = services["nats-credentials"]
    assert "mcpmesh.bus.permissions" in " ".join(maker["command"])
    assert maker["cap_drop"] == ["ALL"] and set(maker["cap_add"]) == {"CHOWN", "DAC_OVERRIDE"}
    # No password or seed in the environment of anything; seeds come from files.
    for service in services.values():
        for key, value in (service.get("environment") or {}).items():
            assert "PASSWORD" not in key or key == "POSTGRES_PASSWORD", key
            assert not str(value).startswith("SU"), key  # an NKEY seed's prefix


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_mounts_only_its_own_nats_seed(model: dict, name: str) -> None:
    service = model["services"][name]
    # The operator made the audit stream first: no service creates or reshapes it.
    assert service["depends_on"]["nats-audit-init"]["condition"] == (
        "service_completed_successfully"
    )
    seeds = [v for v in service["volumes"] if v.get("source") == "nats-seeds"]
    assert [(m["volume"]["subpath"], m["read_only"]) for m in seeds] == [(name, True)]
    assert service["environment"]["MCPMESH_NATS_NKEY_SEED_FILE"].startswith(
        seeds[0]["target"] + "/"
    )


def test_observability_profile_scrapes_every_service_and_provisions_grafana(model: dict) -> None:
    prometheus, grafana = model["services"]["prometheus"], model["services"]["grafana"]
    assert prometheus["profiles"] == ["observability"] == grafana["profiles"]
    config = yaml.safe_load((REPO / "deploy/observability/prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "mcpmesh"]
    assert job["metrics_path"] == "/metrics"
    targets = set(job["static_configs"][0]["targets"])
    assert targets == {f"{name}:{port}" for name, port in SERVICES.items()}
    for name, port in SERVICES.items():  # each target is a service listening on that port
        assert str(port) == model["services"][name]["environment"]["MCPMESH_PORT"]
    mounted = {v["target"]: v for v in grafana["volumes"] if v["type"] == "bind"}
    assert "/etc/grafana/provisioning/datasources/mcpmesh.yml" in mounted
    datasources = yaml.safe_load(
        (REPO / "deploy/observability/grafana/datasources.yml").read_text()
    )
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert grafana["environment"]["GF_AUTH_DISABLE_LOGIN_FORM"] == "true"  # no default admin


def test_dashboard_queries_only_metrics_the_library_exports() -> None:
    import json

    from mcpmesh.obs.metrics import Metrics

    dashboard = json.loads(
        (REPO / "deploy/observability/grafana/dashboards/mcpmesh.json").read_text()
    )
    uid = yaml.safe_load((REPO / "deploy/observability/grafana/datasources.yml").read_text())[
        "datasources"
    ][0]["uid"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert all(t["datasource"]["uid"] == uid for p in dashboard["panels"] for t in p["targets"])
    used = {m for e in exprs for m in re.findall(r"\b(mcpmesh_[a-z_]+)", e)}
    metrics = Metrics("x")
    exported = {family.name for family in metrics.registry.collect()}
    exported |= {
        f"{name}_{suffix}" for name in exported for suffix in ("bucket", "count", "sum", "total")
    }
    gauges = set(
        re.findall(
            r'"(mcpmesh_[a-z_]+)"', (REPO / "libs/mcpmesh/src/mcpmesh/app/observe.py").read_text()
        )
    )
    assert used <= exported | gauges, used - exported - gauges


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_reads_the_one_state_key_ring_the_bootstrap_writes(
    model: dict, name: str
) -> None:
    """Replicas share the requestState key ring (2026-07-28 MRTR), or each would refuse
    the others' retries; the services refuse to start with the bus on and none."""
    service = model["services"][name]
    mount = next(v for v in service["volumes"] if v.get("source") == "approle")
    assert service["environment"]["MCPMESH_STATE_KEY_FILE"] == mount["target"] + "/state-keys.json"
    script = "\n".join(model["services"]["vault-bootstrap"]["command"])
    assert "mcpmesh state-key-file /data/.admin/state-keys.json" in script
    assert 'cp /data/.admin/state-keys.json "/data/$$service/state-keys.json"' in script


# ------------------------------------------------------------------ sign-in (OAuth 2.1)


def registered_resources(model: dict) -> dict[str, list[str]]:
    """What the compose authorization server is told: resource URL → scopes."""
    env = model["services"]["authserver"]["environment"]
    resources = {}
    for name, value in env.items():
        if name.startswith("MCPMESH_AUTHSERVER_RESOURCE_"):
            url, *scopes = value.split()
            resources[url] = scopes
    return resources


def test_authserver_is_hardened_persistent_and_alone_on_its_network(model: dict) -> None:
    server = model["services"]["authserver"]
    assert server["build"]["context"] == str(REPO / "tools/authserver")
    assert server["read_only"] is True
    assert server["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in server["security_opt"]
    (state,) = [v for v in server["volumes"] if v["target"] == "/data"]
    assert state["type"] == "volume"  # keys and registered clients survive `down`/`up`
    assert [(p["host_ip"], p["target"]) for p in server["ports"]] == [("127.0.0.1", 9400)]
    assert set(server["networks"]) == {"auth"}
    # Only the services share that network: no backend or tool reaches the AS, nor it them.
    on_auth = {n for n, s in model["services"].items() if "auth" in (s.get("networks") or {})}
    assert on_auth == {"authserver", "filesystem-replicas", *SERVICES}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_requires_tokens_for_its_own_url(model: dict, name: str) -> None:
    service = model["services"][name]
    env = service["environment"]
    issuer = model["services"]["authserver"]["environment"]["MCPMESH_AUTHSERVER_ISSUER"]
    # `iss` is the public issuer (what the client on the host sees, and the AS names
    # itself); the keys come from inside the network.
    assert env["MCPMESH_AUTH_ISSUERS"] == issuer
    jwks = urlsplit(env["MCPMESH_AUTH_JWKS_URL"])
    assert jwks.hostname == "authserver" and jwks.path == "/jwks"
    assert {"default", "auth"} <= set(service["networks"])
    assert service["depends_on"]["authserver"]["condition"] == "service_healthy"
    assert "MCPMESH_AUTH_ALLOW_UNAUTHENTICATED" not in env
    # Its resource is the URL a client on the host uses, registered with its scopes.
    resource = env["MCPMESH_AUTH_RESOURCE"]
    (published,) = [p["published"] for p in service["ports"]]
    assert resource == f"http://localhost:{published}/mcp"
    assert registered_resources(model)[resource] == [f"{name}:read", f"{name}:write"]


def test_replicas_behind_the_balancer_take_tokens_for_the_balancer_url(model: dict) -> None:
    env = model["services"]["filesystem-replicas"]["environment"]
    (published,) = [p["published"] for p in model["services"]["filesystem-lb"]["ports"]]
    assert env["MCPMESH_AUTH_RESOURCE"] == f"http://localhost:{published}/mcp"
    assert env["MCPMESH_AUTH_RESOURCE"] in registered_resources(model)


async def test_compose_authserver_settings_issue_what_the_services_expect(
    model: dict, tmp_path: Path
) -> None:
    """The AS run with exactly the environment compose gives it (server.js, as in its
    image): its issuer and a token's `aud` are what each service checks."""
    server = model["services"]["authserver"]
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MCPMESH_")},
        **server["environment"],
        "MCPMESH_AUTHSERVER_STATE_DIR": str(tmp_path / "data"),
        "MCPMESH_AUTHSERVER_HOST": "127.0.0.1",
        "MCPMESH_AUTHSERVER_PORT": str(port),
    }
    process = ManagedProcess(
        "authserver",
        [node_binary(), str(authserver_dir() / "server.js"), "serve"],
        tmp_path / "authserver.log",
        env=env,
    )
    local = f"http://127.0.0.1:{port}"

    async def discovery() -> dict | None:
        url = f"{local}/.well-known/openid-configuration"
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                return await response.json() if response.status == 200 else None
        except aiohttp.ClientError:
            return None

    async def ready() -> bool:
        return await discovery() is not None

    await process.start(ready, timeout=30)
    try:
        metadata = await discovery()
        assert metadata is not None
        github = model["services"]["github"]["environment"]
        assert metadata["issuer"] == github["MCPMESH_AUTH_ISSUERS"]
        assert urlsplit(metadata["jwks_uri"]).path == urlsplit(github["MCPMESH_AUTH_JWKS_URL"]).path
        token = await request_dev_token(
            f"{local}/token",
            tmp_path / "data" / "dev-client.json",
            github["MCPMESH_AUTH_RESOURCE"],
            ["github:read"],
        )
        claims = json.loads(base64.urlsafe_b64decode(token["access_token"].split(".")[1] + "=="))
        assert claims["aud"] == github["MCPMESH_AUTH_RESOURCE"]
        assert claims["iss"] == github["MCPMESH_AUTH_ISSUERS"]
        assert claims["scope"] == "github:read"
    finally:
        await process.stop()
