"""The development authorization server (``tools/authserver``: npm ``oidc-provider`` on
Node 22) on a free loopback port.

It is a real OAuth 2.1 / OpenID provider, not a token issuer of ours: authorization code
+ PKCE, dynamic client registration, resource indicators with JWT access tokens whose
``aud`` is the service, DPoP, introspection, and ``client_credentials`` for a dev client.
Its keys live in ``<workdir>/authserver`` (0600 files in a 0700 directory), so tokens
stay valid across restarts; :meth:`AuthServer.rotate_keys` puts a new key first.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import aiohttp
import msgspec

from mcpmesh.embedded.process import (
    BackendError,
    ManagedProcess,
    free_port,
    port_free,
    process_alive,
)


def _repo_tools() -> list[Path]:
    """``tools/`` of the checkout this library runs from, and of the working directory."""
    found = [parent / "tools" for parent in Path(__file__).resolve().parents]
    found += [parent / "tools" for parent in [Path.cwd(), *Path.cwd().parents]]
    return found


def authserver_dir() -> Path:
    """Where ``server.js`` and its ``node_modules`` are (``MCPMESH_AUTHSERVER_DIR``, else
    ``tools/authserver`` of the checkout)."""
    configured = os.environ.get("MCPMESH_AUTHSERVER_DIR")
    candidates = [Path(configured)] if configured else [t / "authserver" for t in _repo_tools()]
    for candidate in candidates:
        if (candidate / "server.js").is_file():
            if not (candidate / "node_modules" / "oidc-provider").is_dir():
                raise BackendError(
                    f"the authorization server's packages are not installed in {candidate}: "
                    "run `make setup`"
                )
            return candidate
    raise BackendError(
        "tools/authserver not found (set MCPMESH_AUTHSERVER_DIR to the folder of server.js)"
    )


def node_binary() -> str:
    """``MCPMESH_NODE``, else the Node 22 that ``make setup`` installs in
    ``tools/conformance``, else ``node`` on PATH (oidc-provider needs Node ≥ 20.19)."""
    configured = os.environ.get("MCPMESH_NODE")
    if configured:
        return configured
    for tools in _repo_tools():
        local = tools / "conformance" / "node_modules" / ".bin" / "node"
        if local.is_file():
            return str(local)
    found = shutil.which("node")
    if found is None:
        raise BackendError("node not found: run `make setup` (it installs Node 22)")
    return found


class AuthServer:
    """A running authorization server: its issuer URL, the dev client, and controls."""

    name = "authserver"

    def __init__(
        self, process: ManagedProcess, argv_tail: list[str], port: int, home: Path
    ) -> None:
        self.process = process
        self.port = port
        self.home = home
        self._argv_tail = argv_tail

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def dev_client_file(self) -> Path:
        """``{"client_id", "client_secret"}`` of the client_credentials dev client (0600)."""
        return self.home / "dev-client.json"

    def dev_client(self) -> tuple[str, str]:
        data = json.loads(self.dev_client_file.read_text())
        return data["client_id"], data["client_secret"]

    async def dev_token(
        self, resource: str, scopes: Sequence[str] = (), *, dpop_proof: str | None = None
    ) -> dict[str, object]:
        """A client_credentials token response for ``resource`` (what scripts use)."""
        return await request_dev_token(
            self.token_endpoint, self.dev_client_file, resource, scopes, dpop_proof=dpop_proof
        )

    async def rotate_keys(self) -> str:
        """Put a new signing key first (the previous one stays published); takes effect
        at the next :meth:`restart`. Returns the new key id."""
        argv = [*self.process.argv[:2], "rotate-keys", *self._argv_tail]
        child = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await child.communicate()
        if child.returncode != 0:
            raise BackendError(f"rotate-keys failed: {err.decode(errors='replace')}")
        return str(json.loads(out)["kid"])

    async def restart(self, timeout: float = 30.0) -> None:
        """Stop and start again on the same port (keys and dev client persist)."""
        await self.process.stop()
        await self.process.start(lambda: _discovery_ready(self.issuer), timeout=timeout)

    async def stop(self) -> None:
        await self.process.stop()


async def request_dev_token(
    token_endpoint: str,
    client_file: Path,
    resource: str,
    scopes: Sequence[str] = (),
    *,
    dpop_proof: str | None = None,
) -> dict[str, object]:
    """A ``client_credentials`` token response for ``resource`` from the dev client whose
    ``{"client_id", "client_secret"}`` are in ``client_file`` (``mcpmesh token``, tests)."""
    data = json.loads(await asyncio.to_thread(client_file.read_text))
    form = {"grant_type": "client_credentials", "resource": resource}
    if scopes:
        form["scope"] = " ".join(scopes)
    headers = {"Authorization": aiohttp.encode_basic_auth(data["client_id"], data["client_secret"])}
    if dpop_proof:
        headers["DPoP"] = dpop_proof
    async with (
        aiohttp.ClientSession() as http,
        http.post(token_endpoint, data=form, headers=headers) as response,
    ):
        body = await response.json(content_type=None)
        if response.status != 200:
            raise BackendError(f"token request refused: HTTP {response.status} {body}")
        return dict(body)


async def _discovery_ready(issuer: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{issuer}/.well-known/openid-configuration",
                timeout=aiohttp.ClientTimeout(total=1),
            ) as response,
        ):
            if response.status != 200:
                return False
            return bool((await response.json()).get("issuer") == issuer)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False


def _private_dir(path: Path) -> Path:
    path = path.absolute()
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


async def start_authserver(
    workdir: Path,
    resources: Mapping[str, Sequence[str]],
    *,
    port: int | None = None,
    dev_users: Sequence[str] = ("dev",),
    opaque_resources: Sequence[str] = (),
    token_ttl: int = 3600,
    timeout: float = 30.0,
) -> AuthServer:
    """Start the authorization server with its state in ``workdir/authserver``.

    ``resources`` maps each service's canonical URL (the RFC 8707 resource, a token's
    ``aud``) to the scopes it defines; ``opaque_resources`` get opaque tokens (checked by
    introspection) instead of JWTs. Ready when its discovery document answers.
    """
    home = await asyncio.to_thread(_private_dir, workdir / "authserver")
    port = port or free_port()
    tail = ["--state-dir", str(home)]
    argv = [
        node_binary(),
        str(authserver_dir() / "server.js"),
        "serve",
        *tail,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--resources",
        json.dumps({resource: list(scopes) for resource, scopes in resources.items()}),
        "--opaque-resources",
        ",".join(opaque_resources),
        "--dev-users",
        ",".join(dev_users),
        "--token-ttl",
        str(token_ttl),
    ]
    process = ManagedProcess("authserver", argv, home / "authserver.log")
    server = AuthServer(process, tail, port, home)
    await process.start(lambda: _discovery_ready(server.issuer), timeout=timeout)
    return server


# --- as a backend of ``mcpmesh up`` ----------------------------------------------------

#: The port ``mcpmesh up`` gives the authorization server when it is free: a stable
#: issuer URL keeps tokens and registered clients valid across restarts.
DEFAULT_PORT = 9400
#: ``<workdir>/authserver/mesh.json``: the issuer and each service's resource, so
#: ``mcpmesh token`` finds the running mesh (no secret: the dev client is in its own file).
MESH_FILE = "mesh.json"


class MeshAuth(msgspec.Struct, frozen=True):
    """What ``mcpmesh up`` tells other commands about its authorization server."""

    issuer: str
    #: Service name → its canonical URL (the RFC 8707 resource, a token's ``aud``).
    resources: dict[str, str]
    #: Service name → the scopes its tokens may carry.
    scopes: dict[str, list[str]]
    #: ``dev-client.json`` (0600) of the client_credentials dev client.
    dev_client_file: str

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"


def authserver_starter(
    resources: Mapping[str, str], scopes: Mapping[str, Sequence[str]]
) -> Callable[[Path, dict[str, str]], Awaitable[tuple[AuthServer, dict[str, str]]]]:
    """The ``mcpmesh up`` backend for services ``resources`` (name → canonical URL) and
    their ``scopes``: the AS on :data:`DEFAULT_PORT` (else a free port), ``mesh.json``
    written beside its state. Services get their own auth settings from :func:`service_auth_env`."""

    async def start(workdir: Path, env: dict[str, str]) -> tuple[AuthServer, dict[str, str]]:
        port = DEFAULT_PORT if port_free("127.0.0.1", DEFAULT_PORT) else None
        server = await start_authserver(
            workdir,
            {resources[name]: list(scopes[name]) for name in resources},
            port=port,
        )
        mesh = MeshAuth(
            issuer=server.issuer,
            resources=dict(resources),
            scopes={name: list(scopes[name]) for name in resources},
            dev_client_file=str(server.dev_client_file),
        )
        await asyncio.to_thread((server.home / MESH_FILE).write_bytes, msgspec.json.encode(mesh))
        return server, {"MCPMESH_AUTHSERVER_ISSUER": server.issuer}

    return start


def service_auth_env(issuer: str, resource: str) -> dict[str, str]:
    """What a service needs to require tokens from ``issuer`` for its ``resource``."""
    return {"MCPMESH_AUTH_ISSUERS": issuer, "MCPMESH_AUTH_RESOURCE": resource}


def running_mesh_auth(workdir: Path) -> MeshAuth | None:
    """The authorization server of the ``mcpmesh up`` running from ``workdir``, if any
    (``mesh.json`` outlives a killed mesh; the PID file says whether the server runs)."""
    home = workdir / "authserver"
    if not process_alive(home / "authserver.pid"):
        return None
    try:
        return msgspec.json.decode((home / MESH_FILE).read_bytes(), type=MeshAuth)
    except (OSError, msgspec.DecodeError):
        return None
