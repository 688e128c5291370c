"""Set up a Vault (or OpenBao) for mcpmesh. Idempotent: run it as often as you like.

It enables KV v2 at ``mcpmesh``, the database secrets engine at ``database`` and Transit
at ``transit`` (one audit signing key ``audit-<service>`` per service), writes
one policy per service from ``deploy/vault/policies/*.hcl`` (as ``mcpmesh-<name>``),
creates an AppRole per service (role id ``mcpmesh-<service>``), optionally Kubernetes
roles bound to the service accounts ``mcpmesh-<service>``, and — when a PostgreSQL
admin DSN is given — the ``mcpmesh-postgres`` connection with the roles
``postgres-readonly`` and ``postgres-readwrite``. Dev secrets are seeded from a JSON
file ``{"service": {"name": "value"}}`` when one is given.

Run ``python -m mcpmesh.secrets.bootstrap --help``. The admin token comes from
``MCPMESH_VAULT_TOKEN`` (environment, never argv); ``MCPMESH_PG_ADMIN_DSN`` likewise.

A persistent, self-unsealing server (static-key seal; ``mcpmesh up`` and Compose) needs no
standing admin token: with ``--state-dir`` the bootstrap initialises the Vault on its first
run (keeping the recovery key, 0600, in that directory), and on every later run makes a
root token from the recovery key (``generate-root``), uses it, and revokes it.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets as random_source
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import hvac
import hvac.exceptions
import requests

KV_MOUNT = "mcpmesh"
DB_MOUNT = "database"
DB_CONNECTION = "mcpmesh-postgres"
#: Transit engine holding each service's audit signing key (``audit-<service>``).
TRANSIT_MOUNT = "transit"
OPERATOR_POLICY = "mcpmesh-operator"

#: Group roles of the database (see mcpmesh.embedded.postgres): a dynamic login gets one.
READ_GROUP = "mcpmesh_read"
WRITE_GROUP = "mcpmesh_write"

#: A dynamic login is a member of a group role, valid until its lease ends.
CREATION = (
    "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' "
    "VALID UNTIL '{{{{expiration}}}}';\n"
    'GRANT {group} TO "{{{{name}}}}";'
)
#: Revocation ends the login's sessions too, so a revoked credential stops working now,
#: not at the next connect.
REVOCATION = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';\n"
    'DROP ROLE IF EXISTS "{{name}}";'
)


@dataclass
class KubernetesOptions:
    host: str
    ca_cert: str | None = None
    token_reviewer_jwt: str | None = None
    namespace: str = "mcpmesh"
    issuer: str | None = None


def services_with_policies(policy_dir: Path) -> tuple[str, ...]:
    """Every service that has a policy file (``<service>.hcl``): a service made with
    ``mcpmesh new-service`` gets its roles from the policy file the scaffold writes."""
    operator = OPERATOR_POLICY.removeprefix("mcpmesh-")
    return tuple(sorted(f.stem for f in policy_dir.glob("*.hcl") if f.stem != operator))


@dataclass
class BootstrapOptions:
    policy_dir: Path
    #: The services to make roles for; default: every one with a policy file.
    services: Iterable[str] = ()
    pg_admin_dsn: str | None = None
    read_group: str = READ_GROUP
    write_group: str = WRITE_GROUP
    db_default_ttl: str = "1h"
    db_max_ttl: str = "24h"
    token_ttl: str = "1h"
    token_max_ttl: str = "24h"
    kubernetes: KubernetesOptions | None = None
    seed: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: The authorization server whose access tokens open callers' own credentials
    #: (:func:`write_user_jwt_auth`); empty = callers' credentials are read by the service.
    users_issuer: str = ""
    #: Each service's canonical URL (its tokens' audience), for ``users_issuer``.
    users_resources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.services = tuple(self.services) or services_with_policies(self.policy_dir)


def find_policy_dir() -> Path:
    """``MCPMESH_VAULT_POLICY_DIR``, else ``deploy/vault/policies`` of this checkout or cwd."""
    candidates = [os.environ.get("MCPMESH_VAULT_POLICY_DIR", "")]
    candidates.append(str(Path.cwd() / "deploy" / "vault" / "policies"))
    candidates.append(str(Path(__file__).resolve().parents[5] / "deploy" / "vault" / "policies"))
    for candidate in candidates:
        if candidate and Path(candidate, "github.hcl").is_file():
            return Path(candidate)
    raise FileNotFoundError(
        "Vault policies not found: set MCPMESH_VAULT_POLICY_DIR to the deploy/vault/policies "
        "directory of mcpmesh."
    )


def _ensure_mount(client: hvac.Client, path: str, kind: str, options: dict | None = None) -> None:
    mounts = client.sys.list_mounted_secrets_engines()
    mounts = mounts.get("data", mounts)
    existing = mounts.get(f"{path}/")
    if existing is None:
        client.sys.enable_secrets_engine(kind, path=path, options=options)
    elif existing["type"] != kind and not (kind == "kv" and existing["type"] == "kv-v2"):
        raise RuntimeError(f"{path}/ is mounted as {existing['type']}, expected {kind}")
    elif kind == "kv" and (existing.get("options") or {}).get("version") != "2":
        raise RuntimeError(f"{path}/ is KV version 1; mcpmesh needs KV v2 there")


def audit_key(service: str) -> str:
    """The Transit key that signs ``service``'s audit checkpoints (never exportable)."""
    return f"audit-{service}"


def write_audit_keys(client: hvac.Client, services: Iterable[str]) -> None:
    """An Ed25519 Transit key per service: the service may sign with its own (its policy
    grants ``transit/sign/audit-<service>``), the operator may verify; no one reads it."""
    _ensure_mount(client, TRANSIT_MOUNT, "transit")
    for service in services:
        try:
            client.secrets.transit.read_key(name=audit_key(service), mount_point=TRANSIT_MOUNT)
        except hvac.exceptions.InvalidPath:
            client.secrets.transit.create_key(
                name=audit_key(service),
                key_type="ed25519",
                exportable=False,
                allow_plaintext_backup=False,
                mount_point=TRANSIT_MOUNT,
            )


def _ensure_auth(client: hvac.Client, path: str, kind: str) -> None:
    methods = client.sys.list_auth_methods()
    methods = methods.get("data", methods)
    if f"{path}/" not in methods:
        client.sys.enable_auth_method(kind, path=path)


def write_policies(client: hvac.Client, policy_dir: Path) -> list[str]:
    names = []
    for file in sorted(policy_dir.glob("*.hcl")):
        name = f"mcpmesh-{file.stem}"
        client.sys.create_or_update_policy(name=name, policy=file.read_text())
        names.append(name)
    return names


def write_approles(client: hvac.Client, options: BootstrapOptions) -> None:
    _ensure_auth(client, "approle", "approle")
    for service in options.services:
        role = f"mcpmesh-{service}"
        client.auth.approle.create_or_update_approle(
            role_name=role,
            token_policies=[role],
            token_ttl=options.token_ttl,
            token_max_ttl=options.token_max_ttl,
            secret_id_num_uses=0,
            token_type="service",
        )
        # The role id is an identifier, not a secret: naming it after the service lets one
        # environment (MCPMESH_VAULT_ROLE_ID=mcpmesh-{service}) serve every service.
        client.auth.approle.update_role_id(role_name=role, role_id=role)


#: Where callers' own upstream credentials are read with their own identity.
USER_JWT_MOUNT = "mcpmesh-users"


def write_user_jwt_auth(
    client: hvac.Client,
    issuer: str,
    resources: Mapping[str, str],
    *,
    mount: str = USER_JWT_MOUNT,
    jwks_url: str | None = None,
    token_ttl: str = "5m",
) -> list[str]:
    """Callers' credentials readable only with the caller's own token.

    A JWT auth method trusts the mesh's authorization server; per service a role accepts
    access tokens issued *for that service* (``bound_audiences`` = its canonical URL,
    ``resources[service]``) and grants a policy templated on the token's subject: read
    ``services/<svc>/principals/<sub>/*`` and nothing else. The service's own policy
    (``mcpmesh-<svc>``, so its AppRole and Kubernetes logins alike) gets a deny on
    ``principals/*``. A compromised service can then read only the credentials of
    principals whose valid tokens it holds — those calling it now. Returns the roles made.
    """
    methods = client.sys.list_auth_methods()
    methods = methods.get("data", methods)
    if f"{mount}/" not in methods:
        client.sys.enable_auth_method("jwt", path=mount)
        methods = client.sys.list_auth_methods()
        methods = methods.get("data", methods)
    accessor = methods[f"{mount}/"]["accessor"]
    if jwks_url:
        client.auth.jwt.configure(jwks_url=jwks_url, bound_issuer=issuer, path=mount)
    else:
        client.auth.jwt.configure(oidc_discovery_url=issuer, bound_issuer=issuer, path=mount)
    subject = "{{identity.entity.aliases." + accessor + ".name}}"
    roles = []
    for service, resource in sorted(resources.items()):
        user_policy = f"mcpmesh-{service}-user"
        client.sys.create_or_update_policy(
            name=user_policy,
            policy=f'path "mcpmesh/data/services/{service}/principals/{subject}/*" '
            '{\n  capabilities = ["read"]\n}\n',
        )
        client.auth.jwt.create_role(
            name=service,
            role_type="jwt",
            user_claim="sub",
            allowed_redirect_uris=[],
            bound_audiences=[resource],
            token_policies=[user_policy],
            token_no_default_policy=True,
            token_ttl=token_ttl,
            token_max_ttl=token_ttl,
            path=mount,
        )
        _fence_principals(client, service)
        roles.append(f"{mount}/role/{service}")
    return roles


def _fence_principals(client: hvac.Client, service: str) -> None:
    """Deny the service's own policy every caller's path (deny wins over its read)."""
    name = f"mcpmesh-{service}"
    fence = (
        f'path "mcpmesh/data/services/{service}/principals/*" {{\n  capabilities = ["deny"]\n}}\n'
    )
    try:
        found = client.sys.read_policy(name=name)
    except hvac.exceptions.InvalidPath:
        return  # no such service here
    rules = (found.get("data") or found).get("rules", "")
    if fence not in rules:
        client.sys.create_or_update_policy(name=name, policy=rules.rstrip() + "\n\n" + fence)


def issue_secret_ids(client: hvac.Client, services: Iterable[str]) -> dict[str, str]:
    """A fresh AppRole secret id per service (the caller stores them, e.g. 0600 files)."""
    return {
        service: client.auth.approle.generate_secret_id(role_name=f"mcpmesh-{service}")["data"][
            "secret_id"
        ]
        for service in services
    }


def write_kubernetes_roles(client: hvac.Client, options: BootstrapOptions) -> None:
    k8s = options.kubernetes
    assert k8s is not None
    _ensure_auth(client, "kubernetes", "kubernetes")
    client.auth.kubernetes.configure(
        kubernetes_host=k8s.host,
        kubernetes_ca_cert=k8s.ca_cert,
        token_reviewer_jwt=k8s.token_reviewer_jwt,
        issuer=k8s.issuer,
        disable_local_ca_jwt=k8s.token_reviewer_jwt is not None,
    )
    for service in options.services:
        role = f"mcpmesh-{service}"
        client.auth.kubernetes.create_role(
            name=role,
            bound_service_account_names=[role],
            bound_service_account_namespaces=[k8s.namespace],
            ttl=options.token_ttl,
            max_ttl=options.token_max_ttl,
            policies=[role],
        )


def _split_dsn(dsn: str) -> tuple[str, str, str]:
    """``(connection_url template, username, password)``: the password goes in its own
    field, which Vault never returns, instead of inside a readable URL."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql") or not parts.username:
        raise ValueError(
            "MCPMESH_PG_ADMIN_DSN must look like postgresql://user:password@host:port/db"
        )
    host = parts.hostname or "127.0.0.1"
    netloc = f"{{{{username}}}}:{{{{password}}}}@{host}" + (f":{parts.port}" if parts.port else "")
    template = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return template, unquote(parts.username), unquote(parts.password or "")


def write_database(client: hvac.Client, options: BootstrapOptions) -> None:
    assert options.pg_admin_dsn
    _ensure_mount(client, DB_MOUNT, "database")
    template, username, password = _split_dsn(options.pg_admin_dsn)
    client.secrets.database.configure(
        name=DB_CONNECTION,
        plugin_name="postgresql-database-plugin",
        verify_connection=True,
        allowed_roles=["postgres-readonly", "postgres-readwrite"],
        connection_url=template,
        username=username,
        password=password,
        password_authentication="scram-sha-256",
        mount_point=DB_MOUNT,
    )
    for role, group in (
        ("postgres-readonly", options.read_group),
        ("postgres-readwrite", options.write_group),
    ):
        client.secrets.database.create_role(
            name=role,
            db_name=DB_CONNECTION,
            creation_statements=[CREATION.format(group=group)],
            revocation_statements=[REVOCATION],
            default_ttl=options.db_default_ttl,
            max_ttl=options.db_max_ttl,
            mount_point=DB_MOUNT,
        )


def seed_secrets(client: hvac.Client, seed: Mapping[str, Mapping[str, str]]) -> int:
    count = 0
    for service, secrets in seed.items():
        for name, value in secrets.items():
            client.secrets.kv.v2.create_or_update_secret(
                path=f"services/{service}/{name}", secret={"value": value}, mount_point=KV_MOUNT
            )
            count += 1
    return count


def create_operator_token(client: hvac.Client, ttl: str = "24h") -> str:
    """A token that may write services' static secrets and read none (for the CLI)."""
    response = client.auth.token.create(
        policies=[OPERATOR_POLICY], ttl=ttl, renewable=True, no_parent=True, display_name="operator"
    )
    return response["auth"]["client_token"]


def bootstrap(client: hvac.Client, options: BootstrapOptions) -> list[str]:
    """Bring ``client``'s Vault to the mcpmesh layout; returns what was done, for humans."""
    done = []
    _ensure_mount(client, KV_MOUNT, "kv", options={"version": "2"})
    done.append(f"KV v2 at {KV_MOUNT}/")
    done.append("policies " + ", ".join(write_policies(client, options.policy_dir)))
    write_audit_keys(client, options.services)
    done.append(f"audit signing keys at {TRANSIT_MOUNT}/ (one per service)")
    write_approles(client, options)
    done.append("AppRoles " + ", ".join(f"mcpmesh-{s}" for s in options.services))
    if options.kubernetes is not None:
        write_kubernetes_roles(client, options)
        done.append(f"Kubernetes roles (namespace {options.kubernetes.namespace})")
    if options.pg_admin_dsn:
        write_database(client, options)
        done.append(f"database engine at {DB_MOUNT}/ with postgres-readonly, postgres-readwrite")
    if options.users_issuer:
        roles = write_user_jwt_auth(client, options.users_issuer, options.users_resources)
        done.append("callers' credentials by their own token: " + ", ".join(roles))
    if options.seed:
        done.append(f"{seed_secrets(client, options.seed)} dev secrets")
    return done


RECOVERY_KEY = "recovery.key"


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def make_seal_key(path: Path) -> Path:
    """The static seal's AES-256 key (32 random bytes, 0600), made once, kept after."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, random_source.token_bytes(32))
    path.chmod(0o600)
    return path


def initialise(client: hvac.Client, state_dir: Path) -> str:
    """First run on a new server: initialise it, keep the recovery key (0600) in
    ``state_dir``; returns the root token (to use now and revoke)."""
    result = client.sys.initialize(recovery_shares=1, recovery_threshold=1)
    _write_private(state_dir / RECOVERY_KEY, result["recovery_keys_base64"][0].encode())
    return str(result["root_token"])


def generate_root(client: hvac.Client, state_dir: Path) -> str:
    """A fresh root token from the recovery key in ``state_dir`` (server unsealed)."""
    recovery_key = (state_dir / RECOVERY_KEY).read_text().strip()
    if client.sys.read_root_generation_progress().get("started"):
        client.sys.cancel_root_generation()  # one left half-done by an interrupted run
    attempt = client.sys.start_root_token_generation()
    done = client.sys.generate_root(key=recovery_key, nonce=attempt["nonce"])
    return _decode_root(done["encoded_token"], attempt["otp"])


def _decode_root(encoded: str, otp: str) -> str:
    """The generated token: OpenBao returns it XOR-ed with the one-time password it
    handed out at the start, base64-encoded (what ``bao operator generate-root -decode``
    undoes; that command now asks an authenticated endpoint first, so it cannot)."""
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    if len(raw) != len(otp):
        raise RuntimeError("the generated root token does not match its one-time password")
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode()


def root_token(client: hvac.Client, state_dir: Path, *, timeout: float = 30.0) -> str:
    """A root token for this run: from initialising a new server, else generated; returns
    once the server is active (unsealed and leading its raft cluster of one)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    if not client.sys.is_initialized():
        token = initialise(client, state_dir)
        wait_active(client, timeout)
        return token
    wait_active(client, timeout)
    return generate_root(client, state_dir)


def wait_active(client: hvac.Client, timeout: float) -> None:
    """Until ``sys/health`` says active: a new or restarted server unseals itself and
    takes the raft leadership a moment after it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = client.sys.read_health_status(method="GET")
        except (requests.exceptions.RequestException, hvac.exceptions.VaultError):
            health = None
        if (
            isinstance(health, dict)
            and health.get("initialized")
            and not (health.get("sealed") or health.get("standby"))
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Vault at {client.url} did not become active within {timeout:g} s")
        time.sleep(0.1)


def write_operator_file(path: Path, addr: str, token: str) -> Path:
    """Where ``mcpmesh secrets set`` finds the Vault and its write-only token."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps({"addr": addr, "token": token}).encode())
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mcpmesh.secrets.bootstrap",
        description="Set up Vault/OpenBao for mcpmesh (idempotent). Reads MCPMESH_VAULT_ADDR, "
        "MCPMESH_VAULT_TOKEN (an admin token) and optionally MCPMESH_PG_ADMIN_DSN from the "
        "environment.",
    )
    parser.add_argument("--policies", type=Path, help="policy directory (deploy/vault/policies)")
    parser.add_argument("--seed-file", type=Path, help='JSON {"service": {"name": "value"}}')
    parser.add_argument("--secret-id-dir", type=Path, help="write <service>.secret-id files here")
    parser.add_argument("--k8s-host", help="Kubernetes API URL: also set up Kubernetes auth")
    parser.add_argument("--k8s-ca-file", type=Path, help="Kubernetes API CA certificate")
    parser.add_argument("--k8s-namespace", default="mcpmesh")
    parser.add_argument("--db-ttl", default="1h", help="dynamic Postgres login lease")
    parser.add_argument("--db-max-ttl", default="24h")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="persistent server without MCPMESH_VAULT_TOKEN: initialise it on the first run "
        "(recovery key kept here, 0600), else make a root token from that key; revoked after",
    )
    parser.add_argument(
        "--operator-file", type=Path, help="write {addr, write-only operator token} here (0600)"
    )
    parser.add_argument(
        "--make-seal-key",
        type=Path,
        metavar="PATH",
        help="only make the static seal's key at PATH (32 random bytes, 0600) unless it exists",
    )
    parser.add_argument(
        "--users-issuer",
        default="",
        help="authorization server issuer: callers' own credentials become readable only "
        "with their own access tokens (MCPMESH_VAULT_USER_AUTH=jwt)",
    )
    parser.add_argument(
        "--users-resource",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help="a service's canonical URL (MCPMESH_AUTH_RESOURCE), with --users-issuer; repeat",
    )
    return parser


def _resources(pairs: Iterable[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        service, sep, url = pair.partition("=")
        if not sep or not service or not url.startswith(("http://", "https://")):
            raise ValueError(f"--users-resource wants SERVICE=URL, got {pair!r}")
        found[service] = url
    return found


def write_secret_id_files(directory: Path, secret_ids: Mapping[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    for service, secret_id in secret_ids.items():
        path = directory / f"{service}.secret-id"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secret_id)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.make_seal_key:
        print(f"bootstrap: seal key at {make_seal_key(args.make_seal_key)}")
        return 0
    addr, token = os.environ.get("MCPMESH_VAULT_ADDR"), os.environ.get("MCPMESH_VAULT_TOKEN")
    if not addr or not (token or args.state_dir):
        print(
            "bootstrap: set MCPMESH_VAULT_ADDR and MCPMESH_VAULT_TOKEN (or --state-dir)",
            file=sys.stderr,
        )
        return 2
    try:
        options = BootstrapOptions(
            policy_dir=args.policies or find_policy_dir(),
            pg_admin_dsn=os.environ.get("MCPMESH_PG_ADMIN_DSN") or None,
            db_default_ttl=args.db_ttl,
            db_max_ttl=args.db_max_ttl,
            seed=json.loads(args.seed_file.read_text()) if args.seed_file else {},
            users_issuer=args.users_issuer,
            users_resources=_resources(args.users_resource),
        )
        if args.k8s_host:
            ca = args.k8s_ca_file.read_text() if args.k8s_ca_file else None
            options.kubernetes = KubernetesOptions(args.k8s_host, ca, namespace=args.k8s_namespace)
        own_root = not token
        client = hvac.Client(
            url=addr, token=token or root_token(hvac.Client(url=addr), args.state_dir)
        )
        try:
            _run(client, options, args, addr)
        finally:
            if own_root:
                client.auth.token.revoke_self()
    except (OSError, ValueError, RuntimeError, hvac.exceptions.VaultError) as exc:
        print(f"bootstrap failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run(
    client: hvac.Client, options: BootstrapOptions, args: argparse.Namespace, addr: str
) -> None:
    for line in bootstrap(client, options):
        print(f"bootstrap: {line}")
    if args.secret_id_dir:
        write_secret_id_files(args.secret_id_dir, issue_secret_ids(client, options.services))
        print(f"bootstrap: AppRole secret ids in {args.secret_id_dir}")
    if args.operator_file:
        write_operator_file(args.operator_file, addr, create_operator_token(client))
        print(f"bootstrap: operator token for `mcpmesh secrets set` in {args.operator_file}")


if __name__ == "__main__":
    sys.exit(main())
