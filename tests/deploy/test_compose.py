"""docker-compose.yml against the Compose specification, and what the mesh needs of it."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from deploy_checks import COMPOSE_ENV, REPO, SERVICES, compose_config, compose_model, compose_schema

from mcpmesh.embedded.postgres import DEMO_SCHEMA, start_postgres

PROFILES = ("replicas", "tools")


@pytest.fixture(scope="module")
def model() -> dict:
    return compose_model(REPO, *PROFILES)


def test_compose_cli_accepts_the_file_with_every_profile() -> None:
    for profiles in ((), ("replicas",), ("tools",), PROFILES):
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
