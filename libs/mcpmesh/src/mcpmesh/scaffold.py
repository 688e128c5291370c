"""``mcpmesh new-service NAME``: a new service from the templates, wired in everywhere.

It renders ``services/NAME`` (a package with one example tool, tests through the
official MCP Python SDK client, a README) and adds the service to the places that run
it: the uv workspace (``services/*`` picks it up), ``docker-compose.yml`` (built from
the shared Dockerfile) and ``deploy/k8s`` (a kustomize component in the base), plus a
Vault policy of its own. Everything is checked before anything is written, so a bad
name or a clash changes nothing, and an existing service is never overwritten.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

#: Lower-case words joined by single hyphens: a distribution, compose service and
#: Kubernetes name all at once (``mcpmesh-NAME-settings`` must fit in 63 characters).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_NAME_LENGTH = 30
#: Names taken by the mesh itself (backends, tools, the library) in compose or k8s.
RESERVED = frozenset(
    {
        "mcpmesh",
        "bootstrap",
        "vault",
        "vault-bootstrap",
        "openbao",
        "nats",
        "nats-box",
        "postgresql",
        "common",
        "lb",
        "test",
        "tests",
    }
)
FIRST_PORT = 8705
#: The line of docker-compose.yml before which a new service's block goes.
COMPOSE_MARKER = "  # mcpmesh new-service adds services above this line."
#: The line of docker-compose.yml (the authorization server's environment) before which
#: its resource (URL and scopes) goes.
COMPOSE_RESOURCE_MARKER = "      # mcpmesh new-service adds resources above this line."
#: The lines of deploy/k8s/overlays/dev before which its resource at the dev
#: authorization server (authserver.yaml) and its URL there (kustomization.yaml) go.
DEV_RESOURCE_MARKER = "            # mcpmesh new-service adds resources above this line."
DEV_PATCH_MARKER = "  # mcpmesh new-service adds patches above this line."
#: The line of deploy/k8s/base/kustomization.yaml before which its directory is listed.
K8S_MARKER = "  # mcpmesh new-service adds services above this line."
#: The line of deploy/k8s/overlays/prod/kustomization.yaml before which its image goes.
K8S_IMAGE_MARKER = "  # mcpmesh new-service adds images above this line."
#: The line of deploy/k8s/overlays/dev/kustomization.yaml before which its NKEY Secret goes.
K8S_NKEY_MARKER = "  # mcpmesh new-service adds NKEY secrets above this line."
_PORT_LINE = re.compile(r"^DEFAULT_PORT\s*=\s*(\d+)", re.MULTILINE)
_COMPOSE_SERVICE = re.compile(r"^  ([a-z0-9][a-z0-9_.-]*):\s*$", re.MULTILINE)
_FIRST_PARTY = re.compile(r"^(known-first-party\s*=\s*\[)([^\]]*)\]", re.MULTILINE)


class ScaffoldError(ValueError):
    """The service cannot be created; the message says why and what to do."""


@dataclass(frozen=True)
class NewService:
    name: str
    port: int
    root: Path

    @property
    def package(self) -> str:
        return "mcpmesh_" + self.name.replace("-", "_")

    @property
    def env_prefix(self) -> str:
        return "MCPMESH_" + self.name.replace("-", "_").upper() + "_"

    @property
    def service_dir(self) -> Path:
        return self.root / "services" / self.name

    @property
    def k8s_dir(self) -> Path:
        return self.root / "deploy" / "k8s" / "base" / self.name

    @property
    def policy_file(self) -> Path:
        return self.root / "deploy" / "vault" / "policies" / f"{self.name}.hcl"

    def substitutions(self) -> dict[str, str]:
        return {
            "__NAME__": self.name,
            "__PACKAGE__": self.package,
            "__PORT__": str(self.port),
            "__ENV_PREFIX__": self.env_prefix,
        }


def validate_name(name: str) -> str:
    """``name`` if it can be a service name, else a :class:`ScaffoldError` saying why."""
    if not NAME_PATTERN.match(name):
        raise ScaffoldError(
            f"invalid service name {name!r}: use lower-case letters and digits, words joined "
            "by single hyphens, starting with a letter (e.g. 'jira' or 'google-drive')"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"service name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in RESERVED or keyword.iskeyword(name.replace("-", "_")):
        raise ScaffoldError(f"service name {name!r} is reserved; choose another")
    return name


def find_root(start: Path) -> Path:
    """The mcpmesh checkout containing ``start``: it has ``services/`` and a workspace
    ``pyproject.toml`` that includes ``services/*``."""
    for candidate in [start, *start.parents]:
        pyproject = candidate / "pyproject.toml"
        if (
            pyproject.is_file()
            and (candidate / "services").is_dir()
            and '"services/*"' in pyproject.read_text(encoding="utf-8")
        ):
            return candidate
    raise ScaffoldError(
        f"no mcpmesh checkout at or above {start}: run this inside the repository, or pass --root"
    )


def service_ports(root: Path) -> dict[str, int]:
    """Every service of this checkout (``services/<name>``) and the ``DEFAULT_PORT`` its
    ``service.py`` declares: the one list the cross-cutting tests and ports derive from."""
    ports: dict[str, int] = {}
    for module in sorted(root.glob("services/*/src/*/service.py")):
        found = _PORT_LINE.findall(module.read_text(encoding="utf-8"))
        if found:
            ports[module.parents[2].name] = int(found[0])
    return ports


def used_ports(root: Path) -> set[int]:
    """Ports the services of this checkout already claim (their ``DEFAULT_PORT``)."""
    return set(service_ports(root).values())


def choose_port(root: Path) -> int:
    taken = used_ports(root)
    port = max([FIRST_PORT - 1, *(p for p in taken if p < 8800)]) + 1
    while port in taken:
        port += 1
    return port


def _template_files(kind: str) -> list[tuple[str, str]]:
    """``(relative path, text)`` of every template file under ``templates/<kind>``."""
    base = resources.files("mcpmesh") / "templates" / kind
    found: list[tuple[str, str]] = []

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":
                continue
            path = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, path + "/")
            else:
                found.append((path, child.read_text(encoding="utf-8")))

    walk(base, "")
    return found


def _render(text: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def render_tree(kind: str, spec: NewService) -> dict[str, str]:
    """The files of template ``kind`` for ``spec``: relative path → text. ``.tmpl`` is
    dropped from names (it keeps template tests and modules out of pytest and ruff)."""
    values = spec.substitutions()
    rendered = {}
    for path, text in _template_files(kind):
        target = _render(path, values).removesuffix(".tmpl")
        rendered[target] = _render(text, values)
    return rendered


def compose_block(spec: NewService) -> str:
    (text,) = (t for p, t in _template_files("compose") if p == "service.yaml.tmpl")
    return _render(text, spec.substitutions())


def _resource_variable(spec: NewService) -> str:
    return "MCPMESH_AUTHSERVER_RESOURCE_" + spec.name.replace("-", "_").upper()


def dev_resource(spec: NewService) -> tuple[str, str]:
    """Its entry in the dev overlay's authorization server, and the patch that gives it
    the URL a port-forward reaches it at."""
    env = (
        f"            - name: {_resource_variable(spec)}\n"
        f"              value: http://localhost:{spec.port}/mcp {spec.name}:read {spec.name}:write"
    )
    patch = (
        "  - target:\n"
        "      kind: ConfigMap\n"
        f"      name: mcpmesh-{spec.name}-settings\n"
        "    patch: |-\n"
        "      - op: replace\n"
        "        path: /data/MCPMESH_AUTH_RESOURCE\n"
        f"        value: http://localhost:{spec.port}/mcp"
    )
    return env, patch


def compose_resource(spec: NewService) -> str:
    """Its line in the compose authorization server's environment: the URL clients use
    (its ``MCPMESH_AUTH_RESOURCE``) and the scopes its tokens may carry."""
    scopes = f"{spec.name}:read {spec.name}:write"
    return f"      {_resource_variable(spec)}: http://localhost:{spec.port}/mcp {scopes}"


def _insert_before(text: str, marker: str, block: str, where: Path, gap: str = "\n\n") -> str:
    if marker not in text.splitlines():
        raise ScaffoldError(
            f"{where} has no line {marker.strip()!r}; add it where new services belong, "
            "or add the service there by hand"
        )
    return text.replace(marker, block.rstrip("\n") + gap + marker, 1)


def _with_first_party(pyproject: str, package: str) -> str | None:
    """The root pyproject with ``package`` in ruff's ``known-first-party`` (where every
    service package is listed, so imports sort the same in every service), or None when
    there is no such list."""
    match = _FIRST_PARTY.search(pyproject)
    if match is None or f'"{package}"' in match.group(2):
        return None
    items = match.group(2).rstrip()
    joined = f'{items}, "{package}"' if items.strip() else f'"{package}"'
    return pyproject[: match.start()] + f"{match.group(1)}{joined}]" + pyproject[match.end() :]


@dataclass
class Plan:
    """Every file to write or change, computed before anything is touched."""

    spec: NewService
    writes: dict[Path, str]

    def apply(self) -> list[Path]:
        for path, text in self.writes.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return list(self.writes)


def plan(name: str, root: Path, port: int | None = None) -> Plan:
    """Check everything and compute the files; raises :class:`ScaffoldError` on a problem."""
    validate_name(name)
    spec = NewService(name, port or choose_port(root), root)
    if not 1024 <= spec.port <= 65535:
        raise ScaffoldError(f"port {spec.port} is outside 1024-65535")
    if spec.port in used_ports(root):
        raise ScaffoldError(f"port {spec.port} is already a service's DEFAULT_PORT")
    for existing in (spec.service_dir, spec.k8s_dir, spec.policy_file):
        if existing.exists():
            raise ScaffoldError(
                f"{existing.relative_to(root)} already exists: a service named {name!r} exists "
                "(it is never overwritten); choose another name"
            )
    compose_file = root / "docker-compose.yml"
    kustomization = root / "deploy" / "k8s" / "base" / "kustomization.yaml"
    prod = root / "deploy" / "k8s" / "overlays" / "prod" / "kustomization.yaml"
    dev = root / "deploy" / "k8s" / "overlays" / "dev" / "kustomization.yaml"
    for required in (compose_file, kustomization, prod, dev):
        if not required.is_file():
            raise ScaffoldError(f"{required} is missing: is {root} an mcpmesh checkout?")
    compose_text = compose_file.read_text(encoding="utf-8")
    if name in _COMPOSE_SERVICE.findall(compose_text):
        raise ScaffoldError(f"docker-compose.yml already has a service {name!r}; choose another")

    writes: dict[Path, str] = {}
    for relative, text in render_tree("service", spec).items():
        writes[spec.service_dir / relative] = text
    for relative, text in render_tree("k8s", spec).items():
        writes[spec.k8s_dir / relative] = text
    (policy,) = (t for p, t in _template_files("vault") if p == "policy.hcl.tmpl")
    writes[spec.policy_file] = _render(policy, spec.substitutions())
    compose_text = _insert_before(compose_text, COMPOSE_MARKER, compose_block(spec), compose_file)
    writes[compose_file] = _insert_before(
        compose_text, COMPOSE_RESOURCE_MARKER, compose_resource(spec), compose_file, gap="\n"
    )
    kustomization_text = kustomization.read_text(encoding="utf-8")
    writes[kustomization] = _insert_before(
        kustomization_text, K8S_MARKER, f"  - {name}", kustomization, gap="\n"
    )
    (image,) = (t for p, t in _template_files("k8s-prod") if p == "image.yaml.tmpl")
    writes[prod] = _insert_before(
        prod.read_text(encoding="utf-8"),
        K8S_IMAGE_MARKER,
        _render(image, spec.substitutions()),
        prod,
        gap="\n",
    )
    (nkey,) = (t for p, t in _template_files("k8s-dev") if p == "nats-nkey.yaml.tmpl")
    writes[dev] = _insert_before(
        dev.read_text(encoding="utf-8"),
        K8S_NKEY_MARKER,
        _render(nkey, spec.substitutions()),
        dev,
        gap="\n",
    )
    overlay = dev.parent
    env, patch = dev_resource(spec)
    writes[dev] = _insert_before(writes[dev], DEV_PATCH_MARKER, patch, dev, gap="\n")
    authserver = overlay / "authserver.yaml"
    if authserver.is_file():
        writes[authserver] = _insert_before(
            authserver.read_text(encoding="utf-8"), DEV_RESOURCE_MARKER, env, authserver, gap="\n"
        )
    pyproject = root / "pyproject.toml"
    first_party = _with_first_party(pyproject.read_text(encoding="utf-8"), spec.package)
    if first_party is not None:
        writes[pyproject] = first_party
    return Plan(spec, writes)


def next_steps(spec: NewService) -> str:
    name, port = spec.name, spec.port
    return f"""\
Created services/{name} (package {spec.package}, port {port}) and added it to
docker-compose.yml (with its resource at the authorization server), deploy/k8s/base/{name}/
(its image in overlays/prod; its NATS NKEY Secret and its resource at the dev
authorization server in overlays/dev),
deploy/vault/policies/{name}.hcl and ruff's known-first-party in pyproject.toml.

Next steps:
  1. Install it into the workspace (uv picks up services/*):
       .cache/tools/bin/uv lock && .cache/tools/bin/uv sync --all-packages
  2. Run its tests:            .venv/bin/pytest services/{name}
  3. Serve it:                 .venv/bin/mcpmesh serve {name} --port {port}
                               (client URL: http://localhost:{port}/mcp)
  4. Write your tools in services/{name}/src/{spec.package}/service.py and document
     every {spec.env_prefix}… setting in services/{name}/README.md.
  5. Containers:               docker compose up --build {name}
  6. Kubernetes:               kubectl apply -k deploy/k8s/overlays/dev
  7. When it needs secrets: widen deploy/vault/policies/{name}.hcl only as far as it
     must (the Vault bootstrap gives every policy file's service its AppRole, whose
     secret id docker-compose.yml already mounts, and its Kubernetes role).
"""


def new_service(
    name: str,
    root: Path | None = None,
    port: int | None = None,
    out: Callable[[str], None] = print,
) -> NewService:
    """Create the service ``name`` in the checkout at (or above) ``root``."""
    checkout = find_root((root or Path.cwd()).absolute())
    planned = plan(name, checkout, port)
    planned.apply()
    out(next_steps(planned.spec))
    return planned.spec
