"""The Vault provider: hvac in worker threads, a lease cache, renewal and re-login.

hvac is synchronous, so every call runs in a small thread pool of its own
(``MCPMESH_VAULT_MAX_CONCURRENCY`` threads): the event loop never blocks and Vault never
sees more than that many requests from one process. Secret values live only in the
cache below (memory, for less than their lease) and in the redaction registry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import hvac
import hvac.exceptions
import requests
import structlog

from mcpmesh.auth.cache import token_digest
from mcpmesh.auth.principal import Principal
from mcpmesh.guard.redaction import remember
from mcpmesh.secrets.auth import TokenInfo, VaultAuth, auth_from_settings
from mcpmesh.secrets.cache import LeaseCache, Leased
from mcpmesh.secrets.clock import SYSTEM_CLOCK, Clock
from mcpmesh.secrets.errors import SecretUnavailable, how_to_set
from mcpmesh.secrets.provider import (
    SAFE_SEGMENT,
    DatabaseCredentials,
    PrincipalRef,
    Secret,
    principal_key,
)
from mcpmesh.secrets.settings import VaultSettings

T = TypeVar("T")

log = structlog.get_logger("mcpmesh.secrets")

#: Failures that mean "Vault cannot be reached right now" (as opposed to "it said no").
UNREACHABLE = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    hvac.exceptions.VaultDown,
    hvac.exceptions.BadGateway,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.VaultNotInitialized,
)
#: Shortest pause between renewal attempts, so a broken Vault is not hammered.
MIN_RETRY = 0.5


class _Denied(Exception):
    """Vault refused with a valid token: the policy does not allow the path."""


class VaultSecretProvider:
    """Credentials of one service from Vault (see :mod:`mcpmesh.secrets`)."""

    def __init__(
        self,
        service: str,
        settings: VaultSettings,
        *,
        auth: VaultAuth | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ):
        if not SAFE_SEGMENT.match(service):
            raise ValueError(f"service name {service!r} cannot be a Vault path segment")
        self.service = service
        self.settings = settings.for_service(service)
        self._auth = auth or auth_from_settings(self.settings)
        # token="" keeps hvac from reading VAULT_TOKEN or ~/.vault-token behind our back.
        self._client = hvac.Client(
            url=self.settings.addr,
            token="",
            timeout=self.settings.timeout,
            verify=self.settings.ca_cert or True,
            namespace=self.settings.namespace or None,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.settings.max_concurrency), thread_name_prefix="vault"
        )
        #: Lease expiry, cache refresh and renewal timing read this (tests move it).
        self._clock = clock
        self._static: LeaseCache[Secret] = LeaseCache(clock)
        self._database: LeaseCache[DatabaseCredentials] = LeaseCache(clock)
        #: Vault tokens obtained from callers' access tokens (by digest): (token, renew by).
        self._user_tokens: dict[str, tuple[str, float]] = {}
        self._login_lock = asyncio.Lock()
        self._logged_in = False
        self._token_generation = 0
        self._token_task: asyncio.Task[None] | None = None
        self._lease_tasks: dict[str, asyncio.Task[None]] = {}
        self._leases: set[str] = set()
        self._closed = False
        #: Vault requests made (tests check single-flight with it).
        self.requests = 0

    # ------------------------------------------------------------ public API

    async def get(self, name: str, *, principal: PrincipalRef = None) -> Secret:
        self._check_open()
        self._check_segment(name, "secret name")
        who = self._principal_key(principal)
        if who is not None and self.settings.user_auth == "jwt":
            token = principal.access_token if isinstance(principal, Principal) else None
            return await self._static.get(
                ("kv-user", who, name), lambda: self._fetch_own(name, who, token)
            )
        key = ("kv", who, name)
        return await self._static.get(key, lambda: self._fetch_static(name, who))

    async def forget(self, name: str, *, principal: PrincipalRef = None) -> None:
        self._static.discard(("kv", self._principal_key(principal), name))

    def _principal_key(self, ref: PrincipalRef) -> str | None:
        """The principal whose own secrets are looked up first (None: the service's)."""
        principal = principal_key(ref)
        if principal is not None and not (
            self.settings.principal_secrets and SAFE_SEGMENT.match(principal)
        ):
            return None
        return principal

    async def database_credentials(self, role: str) -> DatabaseCredentials:
        self._check_open()
        self._check_segment(role, "database role")
        return await self._database.get(("db", role), lambda: self._fetch_database(role))

    async def sign_checkpoint(self, data: bytes) -> str:
        """Sign an audit checkpoint with this service's Transit key (``audit-<service>``):
        Vault signs, the key never leaves it (the audit publisher's ``signer``)."""
        from mcpmesh.secrets.bootstrap import TRANSIT_MOUNT, audit_key

        self._check_open()
        what = f"an audit signature of the {self.service} service"
        try:
            response = await self._request(
                lambda: self._client.secrets.transit.sign_data(
                    name=audit_key(self.service),
                    hash_input=base64.b64encode(data).decode(),
                    mount_point=TRANSIT_MOUNT,
                ),
                what,
            )
        except _Denied:
            raise SecretUnavailable(
                f"Vault's policy for the {self.service} service does not allow "
                f"{TRANSIT_MOUNT}/sign/{audit_key(self.service)}; run the bootstrap again.",
                service=self.service,
            ) from None
        return str(response["data"]["signature"])

    async def close(self) -> None:
        """Stop renewals, revoke the leases obtained, and drop the token if it was ours."""
        if self._closed:
            return
        self._closed = True
        tasks = [*self._lease_tasks.values(), *([self._token_task] if self._token_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for lease_id in sorted(self._leases):
            await self._revoke_lease(lease_id)
        if self._logged_in and self._auth.owns_token:
            with contextlib.suppress(Exception):
                await self._run(self._client.auth.token.revoke_self)
        self._static.clear()
        self._database.clear()
        self._client.token = ""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def readiness(self) -> str | None:
        """For ``service.readiness_checks``: None when Vault answers and we can log in."""
        try:
            await self._ensure_login()
        except SecretUnavailable as exc:
            return str(exc)
        return None

    # ------------------------------------------------------------ static secrets

    def _path(self, name: str, principal: str | None) -> str:
        if principal is None:
            return f"services/{self.service}/{name}"
        return f"services/{self.service}/principals/{principal}/{name}"

    async def _fetch_static(self, name: str, principal: str | None) -> Leased[Secret]:
        value = None
        if principal is not None:
            value = await self._read_kv(name, principal)
            if value is None and not self.settings.principal_fallback:
                raise self._missing(name, principal)
        secret = Secret(value, "user") if value is not None else None
        if secret is None:
            value = await self._read_kv(name, None)
            if value is None:
                raise self._missing(name, None)
            secret = Secret(value, "shared")
        remember(secret)
        return Leased.for_ttl(
            secret,
            self.settings.cache_ttl,
            self.settings.refresh_fraction,
            now=self._clock.monotonic(),
        )

    # ------------------------------------------------------------ callers' own, as them

    async def _fetch_own(self, name: str, principal: str, token: str | None) -> Leased[Secret]:
        """``user_auth=jwt``: the principal's own secret read with a Vault token obtained
        from the principal's access token (the service's identity is denied the path);
        the service's shared one, with its own identity, only as the usual fallback."""
        if token is None:
            raise SecretUnavailable(
                f"Reading {principal}'s own {name!r} needs the caller's access token "
                "(MCPMESH_VAULT_USER_AUTH=jwt); pass principal=ctx.principal.",
                service=self.service,
                name=name,
            )
        path = self._path(name, principal)
        vault_token = await self._user_vault_token(token)

        def read() -> dict:
            return self._user_client(vault_token).secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.settings.kv_mount, raise_on_deleted_version=True
            )

        try:
            response = await self._run(read)
        except hvac.exceptions.InvalidPath:
            response = None
        except hvac.exceptions.Forbidden:
            raise SecretUnavailable(
                f"Vault's user policy does not let {principal} read "
                f"{self.settings.kv_mount}/{path}; run the bootstrap's write_user_jwt_auth.",
                service=self.service,
                name=name,
            ) from None
        except UNREACHABLE as exc:
            raise self._unreachable(f"secret {name!r} of {principal}", exc) from None
        value = ((response or {}).get("data") or {}).get("data", {}).get("value")
        if isinstance(value, str):
            secret = Secret(value, "user")
        elif self.settings.principal_fallback:
            shared = await self._read_kv(name, None)
            if shared is None:
                raise self._missing(name, principal)
            secret = Secret(shared, "shared")
        else:
            raise self._missing(name, principal)
        remember(secret)
        return Leased.for_ttl(
            secret,
            self.settings.cache_ttl,
            self.settings.refresh_fraction,
            now=self._clock.monotonic(),
        )

    def _user_client(self, token: str) -> hvac.Client:
        return hvac.Client(
            url=self.settings.addr,
            token=token,
            timeout=self.settings.timeout,
            verify=self.settings.ca_cert or True,
            namespace=self.settings.namespace or None,
        )

    async def _user_vault_token(self, access_token: str) -> str:
        """A Vault token for the caller (JWT auth login with their access token), kept
        until 80 % of its TTL."""
        digest, now = token_digest(access_token), self._clock.monotonic()
        cached = self._user_tokens.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        settings = self.settings

        def login() -> dict:
            return self._user_client("").auth.jwt.jwt_login(
                role=settings.user_jwt_role,
                jwt=access_token,
                use_token=False,
                path=settings.user_jwt_mount,
            )

        try:
            response = await self._run(login)
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden) as exc:
            raise SecretUnavailable(
                f"Vault refused the caller's token at {settings.user_jwt_mount}/login "
                f"(role {settings.user_jwt_role}): {str(exc).splitlines()[0][:200]}",
                service=self.service,
            ) from None
        except UNREACHABLE as exc:
            raise self._unreachable("a login with the caller's token", exc) from None
        auth = response["auth"]
        for key in [k for k, (_, until) in self._user_tokens.items() if until <= now]:
            del self._user_tokens[key]
        self._user_tokens[digest] = (auth["client_token"], now + 0.8 * auth["lease_duration"])
        return str(auth["client_token"])

    async def _read_kv(self, name: str, principal: str | None) -> str | None:
        path = self._path(name, principal)
        what = f"secret {name!r} of the {self.service} service"
        try:
            response = await self._request(
                lambda: self._client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self.settings.kv_mount, raise_on_deleted_version=True
                ),
                what,
            )
        except hvac.exceptions.InvalidPath:
            return None
        except _Denied:
            raise SecretUnavailable(
                f"Vault's policy for the {self.service} service does not allow reading "
                f"{self.settings.kv_mount}/{path}; add the path to deploy/vault/policies/"
                f"{self.service}.hcl and run the bootstrap again.",
                service=self.service,
                name=name,
            ) from None
        value = (response.get("data") or {}).get("data", {}).get("value")
        if not isinstance(value, str):
            raise SecretUnavailable(
                f"Vault entry {self.settings.kv_mount}/{path} has no string field 'value'; "
                + how_to_set(self.service, name, principal)
                + ".",
                service=self.service,
                name=name,
            )
        return value

    def _missing(self, name: str, principal: str | None) -> SecretUnavailable:
        where = f"{self.settings.kv_mount}/{self._path(name, principal)}"
        return SecretUnavailable(
            f"The {self.service} service has no secret {name!r} in Vault ({where}); "
            + how_to_set(self.service, name, principal)
            + ".",
            service=self.service,
            name=name,
        )

    # ------------------------------------------------------------ dynamic credentials

    async def _fetch_database(self, role: str) -> Leased[DatabaseCredentials]:
        what = f"database credentials for role {role!r}"
        try:
            response = await self._request(
                lambda: self._client.secrets.database.generate_credentials(
                    name=role, mount_point=self.settings.db_mount
                ),
                what,
            )
        except hvac.exceptions.InvalidPath:
            raise SecretUnavailable(
                f"Vault has no database role {role!r} at {self.settings.db_mount}/roles; "
                "run the Vault bootstrap (`python -m mcpmesh.secrets.bootstrap`) with "
                "MCPMESH_PG_ADMIN_DSN set.",
                service=self.service,
                name=role,
            ) from None
        except _Denied:
            raise SecretUnavailable(
                f"Vault's policy for the {self.service} service does not allow "
                f"{self.settings.db_mount}/creds/{role}.",
                service=self.service,
                name=role,
            ) from None
        ttl = float(response.get("lease_duration") or 0)
        lease_id = response["lease_id"]
        data = response["data"]
        remember(data["password"])
        credentials = DatabaseCredentials(
            username=data["username"],
            password=data["password"],
            lease_id=lease_id,
            expires_at=self._clock.time() + ttl,
        )
        self._leases.add(lease_id)
        if response.get("renewable") and ttl > 0:
            self._lease_tasks[lease_id] = asyncio.create_task(
                self._renew_lease_loop(role, credentials, ttl), name=f"vault-lease-{role}"
            )
        log.info("database_credentials_issued", role=role, lease_id=lease_id, ttl=ttl)
        return Leased.for_ttl(
            credentials, ttl, self.settings.refresh_fraction, now=self._clock.monotonic()
        )

    async def _renew_lease_loop(self, role: str, credentials: DatabaseCredentials, ttl: float):
        """Keep the lease alive while the provider is open; stop at the role's max TTL."""
        lease_id = credentials.lease_id
        try:
            while True:
                remaining = credentials.expires_at - self._clock.time()
                await self._clock.sleep(
                    max(remaining * self.settings.refresh_fraction * 0.75, 0.05)
                )
                increment = self.settings.renew_increment or int(ttl)
                try:
                    response = await self._request(
                        functools.partial(
                            self._client.sys.renew_lease, lease_id, increment=increment
                        ),
                        f"renewal of {role} credentials",
                    )
                except (SecretUnavailable, _Denied, hvac.exceptions.VaultError) as exc:
                    left = credentials.expires_at - self._clock.time()
                    if left <= 0 or isinstance(exc, hvac.exceptions.InvalidRequest):
                        return
                    log.warning("lease_renewal_failed", role=role, lease_id=lease_id, left=left)
                    await self._clock.sleep(max(min(left / 4, 5.0), MIN_RETRY))
                    continue
                new_ttl = float(response.get("lease_duration") or 0)
                credentials = DatabaseCredentials(
                    credentials.username,
                    credentials.password,
                    lease_id,
                    self._clock.time() + new_ttl,
                )
                capped = new_ttl < increment * 0.9
                if self._is_current(role, lease_id):
                    # Capped by the role's max TTL, the lease cannot live on: the next caller
                    # gets new credentials while these stay valid for open connections.
                    fraction = 0.0 if capped else self.settings.refresh_fraction
                    self._database.put(
                        ("db", role),
                        Leased.for_ttl(credentials, new_ttl, fraction, now=self._clock.monotonic()),
                    )
                log.info("lease_renewed", role=role, lease_id=lease_id, ttl=new_ttl)
                if capped:
                    return
        finally:
            self._lease_tasks.pop(lease_id, None)

    def _is_current(self, role: str, lease_id: str) -> bool:
        entry = self._database.peek(("db", role))
        return entry is not None and entry.value.lease_id == lease_id

    async def _revoke_lease(self, lease_id: str) -> None:
        try:
            # The path form lets a policy allow revoking only its own engine's leases.
            await self._request(
                lambda: self._client.adapter.put(f"/v1/sys/leases/revoke/{lease_id}"),
                "lease revocation",
            )
            self._leases.discard(lease_id)
            log.info("lease_revoked", lease_id=lease_id)
        except Exception as exc:
            log.warning("lease_revocation_failed", lease_id=lease_id, error=type(exc).__name__)

    # ------------------------------------------------------------ requests and login

    async def _run(self, call: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        self.requests += 1
        return await loop.run_in_executor(self._pool, call)

    async def _request(self, call: Callable[[], T], what: str) -> T:
        """One authenticated Vault call; re-login once when the token turns out gone."""
        for attempt in range(2):
            generation = await self._ensure_login(what)
            try:
                return await self._run(call)
            except UNREACHABLE as exc:
                raise self._unreachable(what, exc) from None
            except hvac.exceptions.Forbidden:
                if await self._token_valid():
                    raise _Denied() from None
                if attempt or not self._auth.can_relogin:
                    raise SecretUnavailable(
                        f"Vault rejected the {self.service} service's token while fetching "
                        f"{what}: it expired or was revoked. "
                        + (
                            "Set a fresh MCPMESH_VAULT_TOKEN."
                            if not self._auth.can_relogin
                            else "Logging in again did not help; check the service's role."
                        ),
                        service=self.service,
                    ) from None
                await self._relogin(generation)
        raise AssertionError("unreachable")

    async def _token_valid(self) -> bool:
        try:
            await self._run(self._client.auth.token.lookup_self)
        except hvac.exceptions.Forbidden:
            return False
        except Exception:
            return True  # cannot tell; do not throw a working token away
        return True

    async def _ensure_login(self, what: str = "a Vault token") -> int:
        if self._logged_in:
            return self._token_generation
        async with self._login_lock:
            if not self._logged_in:
                await self._login(what)
        return self._token_generation

    async def _relogin(self, seen_generation: int) -> None:
        async with self._login_lock:
            if self._token_generation == seen_generation:  # nobody logged in meanwhile
                await self._login("a new Vault token")

    async def _login(self, what: str) -> None:
        try:
            info: TokenInfo = await self._run(lambda: self._auth.login(self._client))
        except UNREACHABLE as exc:
            raise self._unreachable(what, exc) from None
        except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest) as exc:
            raise SecretUnavailable(
                f"Vault refused the {self.service} service's {self.settings.auth} login "
                f"({type(exc).__name__}); check MCPMESH_VAULT_AUTH and its settings "
                "(token, role id and secret id file, or Kubernetes role).",
                service=self.service,
            ) from None
        self._logged_in = True
        self._token_generation += 1
        log.info("vault_login", auth=self.settings.auth, ttl=info.ttl, renewable=info.renewable)
        if self._token_task is not None and self._token_task is not asyncio.current_task():
            self._token_task.cancel()
        if info.ttl > 0:
            self._token_task = asyncio.create_task(self._keep_token(info), name="vault-token")

    async def _keep_token(self, info: TokenInfo) -> None:
        """Renew the token before it expires; log in again when it cannot be renewed."""
        ttl, renewable = info.ttl, info.renewable
        expires = self._clock.monotonic() + ttl
        while True:
            await self._clock.sleep(max(ttl * self.settings.refresh_fraction, 0.05))
            try:
                if renewable:
                    auth = (await self._run(self._client.auth.token.renew_self))["auth"]
                    new_ttl = float(auth.get("lease_duration") or 0)
                    log.info("vault_token_renewed", ttl=new_ttl)
                    if new_ttl >= ttl * 0.9:  # still extendable: keep renewing
                        ttl, expires = new_ttl, self._clock.monotonic() + new_ttl
                        continue
                    ttl, expires = new_ttl, self._clock.monotonic() + new_ttl
                    renewable = False  # at max TTL: log in again before it ends
                    continue
                if self._auth.can_relogin:
                    await self._relogin_in_background()
                    return
                return  # a static token at its end: requests will say so
            except hvac.exceptions.Forbidden:
                if self._auth.can_relogin:
                    await self._relogin_in_background()
                return
            except Exception as exc:
                left = expires - self._clock.monotonic()
                log.warning("vault_token_renewal_failed", error=type(exc).__name__, left=left)
                ttl = max(min(left / 4, 5.0), MIN_RETRY) / self.settings.refresh_fraction

    async def _relogin_in_background(self) -> None:
        try:
            await self._relogin(self._token_generation)
        except SecretUnavailable as exc:
            # No token now; the next request tries to log in again and reports clearly.
            self._logged_in = False
            log.warning("vault_relogin_failed", error=str(exc))

    # ------------------------------------------------------------ errors

    def _unreachable(self, what: str, exc: BaseException) -> SecretUnavailable:
        return SecretUnavailable(
            f"Vault at {self.settings.addr} is unreachable ({type(exc).__name__}) and no "
            f"cached {what} is still valid. Start Vault (`make run` starts a dev server) "
            "or fix MCPMESH_VAULT_ADDR, then retry.",
            service=self.service,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise SecretUnavailable(f"The {self.service} service is shutting down.")

    @staticmethod
    def _check_segment(value: str, what: str) -> None:
        if not SAFE_SEGMENT.match(value):
            raise SecretUnavailable(
                f"Invalid {what} {value[:40]!r}: use letters, digits and _ . @ + - only."
            )
