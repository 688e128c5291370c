"""The REST client: one aiohttp session, rate limits honoured, conditional requests.

Why not githubkit (measured 2026-12-01, githubkit 0.16.1, on this service against the
local double): it misses the service's budget. Idle RSS of `mcpmesh serve github`
goes from 56 MB to 70 MB with a githubkit client built, 87 MB with the eight REST
namespaces the tools use loaded (target < 60 MB); CPU time from spawn to `/healthz`
from 0.81 s to 1.26-1.37 s, so past the 1 s ready target even on an idle machine
(importing githubkit 0.44 s, its namespaces 0.22 s, the models 0.19 s); one GET of a
repository, parsed, from 0.19 ms to 0.68 ms p50 on loopback (31 ms when the client is
not held open, as it builds an httpx client per request). It also
brings a second HTTP stack (httpx, httpcore, anyio, hishel) and pydantic beside aiohttp
and msgspec, and 0.16.1 does not import with the hishel 2.0.0 its own metadata allows.
The parts that matter here stay explicit: which credential goes with which call
(per-call App tokens), how long a rate-limit wait may be before failing clearly, ETag
reuse keyed by credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import aiohttp
import msgspec
import structlog

from mcpmesh import ToolError
from mcpmesh.obs.metrics import UpstreamCall, rate_limited, upstream
from mcpmesh_github import __version__
from mcpmesh_github.settings import GitHubSettings

log = structlog.get_logger("mcpmesh_github.client")

_LINK = re.compile(r'<([^>]+)>;\s*rel="([^"]+)"')
_RETRYABLE_SERVER = frozenset([500, 502, 503, 504])


class GitHubApiError(ToolError):
    """GitHub answered with an error; ``status`` lets callers react (401, 404, ...)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


T = TypeVar("T")


class Response(msgspec.Struct, kw_only=True):
    status: int
    data: Any
    headers: Mapping[str, str]
    next_page: int | None = None
    from_cache: bool = False

    def decoded(self, type_: type[T]) -> T:
        """The body as ``type_`` (a Struct of the fields a tool reads): a body of another
        shape is a clear error, not a KeyError deep in a tool."""
        try:
            return msgspec.convert(self.data, type_, strict=False)
        except msgspec.ValidationError as exc:
            raise ToolError(f"GitHub answered in an unexpected shape ({exc}).") from None


def next_page_of(link_header: str | None) -> int | None:
    """The ``page`` of the ``rel="next"`` link, when GitHub says there is one."""
    for url, rel in _LINK.findall(link_header or ""):
        if rel == "next":
            page = parse_qs(urlsplit(url).query).get("page")
            if page and page[0].isdigit():
                return int(page[0])
    return None


def _fingerprint(authorization: str | None) -> str:
    """Cache entries are per credential (never shared across principals), keyed by a
    hash: the credential itself is never stored outside the request."""
    if not authorization:
        return "anonymous"
    return hashlib.sha256(authorization.encode()).hexdigest()[:24]


def _message_of(data: Any) -> str:
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = "; ".join(
                str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e)
                for e in errors[:5]
            )
            message = f"{message} ({details})" if message else details
        return message[:500]
    return str(data or "")[:200]


class GitHubClient:
    """Sends REST requests; raises :class:`GitHubApiError` with a message for the user."""

    def __init__(self, settings: GitHubSettings) -> None:
        self.settings = settings
        self.base_url = settings.api_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._etags: OrderedDict[tuple[str, str], tuple[str, Any, str | None]] = OrderedDict()
        #: Requests sent and answered 304 (for tests and metrics).
        self.sent = 0
        self.not_modified = 0

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout),
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": self.settings.api_version,
                    "User-Agent": f"mcpmesh-github/{__version__}",
                },
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("GitHubClient.start() was not awaited")
        return self._session

    # ------------------------------------------------------------ requests

    async def request(
        self,
        method: str,
        path: str,
        *,
        authorization: str | None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: str | None = None,
        text: bool = False,
        what: str = "",
    ) -> Response:
        """One API call with bounded retries on rate limits and server errors."""
        await self.start()
        url = self.base_url + path
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        headers: dict[str, str] = {}
        if authorization:
            headers["Authorization"] = authorization
        if accept:
            headers["Accept"] = accept
        cache_key = (_fingerprint(authorization), f"{accept}|{url}?{sorted(query.items())}")
        cached = self._etags.get(cache_key) if method == "GET" else None
        if cached is not None:
            headers["If-None-Match"] = cached[0]
        for attempt in range(self.settings.max_retries + 1):
            self.sent += 1
            async with (
                self._reachable() as call,
                self.session.request(
                    method, url, params=query, json=json, headers=headers, allow_redirects=False
                ) as response,
            ):
                status = response.status
                call.outcome = "ok" if status < 400 else f"http_{status}"
                log.debug("github_request", method=method, path=path, status=status)
                if status == 304 and cached is not None:
                    self.not_modified += 1
                    self._etags.move_to_end(cache_key)
                    return Response(
                        status=200,
                        data=cached[1],
                        headers=dict(response.headers),
                        next_page=next_page_of(cached[2]),
                        from_cache=True,
                    )
                body = await response.read()
                data = _decode(body, text or response.content_type != "application/json")
                if status < 400:
                    result = Response(
                        status=status,
                        data=data,
                        headers=dict(response.headers),
                        next_page=next_page_of(response.headers.get("Link")),
                    )
                    etag = response.headers.get("ETag")
                    if method == "GET" and etag and status == 200:
                        self._remember(cache_key, etag, data, response.headers.get("Link"))
                    return result
                wait = self._wait_before_retry(status, response.headers, data, attempt)
            if wait is None or attempt == self.settings.max_retries:
                raise self._error(status, data, response.headers, what or f"{method} {path}")
            log.info("github_retry", status=status, wait_s=round(wait, 1), attempt=attempt + 1)
            if status in (403, 429):
                rate_limited("github", wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.asynccontextmanager
    async def _reachable(self) -> AsyncIterator[UpstreamCall]:
        """A network failure (refused, reset, DNS, timeout) is a clear tool error, not a crash.
        The exchange is timed as an upstream call (``/metrics``, a span when tracing)."""
        try:
            with upstream("github") as call:
                yield call
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ToolError(
                f"Could not reach GitHub at {self.base_url} ({type(exc).__name__}); check the "
                "network (and MCPMESH_GH_API_URL), then try again."
            ) from None

    async def download_tail(self, url: str, *, max_bytes: int) -> tuple[bytes, int]:
        """Fetch a pre-signed download (no credential is sent to it) and keep its last
        ``max_bytes``; returns ``(tail, total_bytes_seen)``."""
        await self.start()
        tail = b""
        seen = 0
        async with self._reachable(), self.session.get(url, headers={"Accept": "*/*"}) as response:
            if response.status >= 400:
                raise GitHubApiError(
                    f"Downloading the log failed ({response.status}); the link may have "
                    "expired, call the tool again.",
                    status=response.status,
                )
            async for chunk in response.content.iter_chunked(64 * 1024):
                seen += len(chunk)
                tail = (tail + chunk)[-max_bytes:]
        return tail, seen

    # ------------------------------------------------------------ helpers

    def _remember(self, key: tuple[str, str], etag: str, data: Any, link: str | None) -> None:
        self._etags[key] = (etag, data, link)
        self._etags.move_to_end(key)
        while len(self._etags) > self.settings.etag_cache_size:
            self._etags.popitem(last=False)

    def _wait_before_retry(
        self, status: int, headers: Mapping[str, str], data: Any, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying, or None when the answer is final.

        Follows GitHub's guidance: ``retry-after`` first; then, when the primary limit
        is used up (``x-ratelimit-remaining: 0``), until ``x-ratelimit-reset``; for a
        secondary limit without headers at least a minute, growing exponentially.
        A wait longer than ``max_rate_limit_wait`` is not attempted.
        """
        if status in _RETRYABLE_SERVER:
            return min(2**attempt, 8) * (0.5 + random.random() / 2)
        if status not in (403, 429):
            return None
        wait = rate_limit_wait(status, headers, data, attempt)
        if wait is None or wait > self.settings.max_rate_limit_wait:
            return None
        return wait

    def _error(self, status: int, data: Any, headers: Mapping[str, str], what: str) -> ToolError:
        message = _message_of(data)
        if status in (403, 429):
            wait = rate_limit_wait(status, headers, data, 0)
            if wait is not None:
                resets = datetime.fromtimestamp(time.time() + wait, UTC).strftime("%H:%M:%S UTC")
                return GitHubApiError(
                    f"GitHub's rate limit is exhausted for {what}; it allows requests again at "
                    f"{resets} (in {int(wait)} s), later than this service waits "
                    f"(MCPMESH_GH_MAX_RATE_LIMIT_WAIT={self.settings.max_rate_limit_wait:g} s) "
                    "or after its retries. Try again then.",
                    status=status,
                )
            return GitHubApiError(
                f"GitHub refused {what} (403: {message}). The credentials lack the permission "
                "this needs, or the resource is restricted.",
                status=status,
            )
        if status == 401:
            return GitHubApiError(f"GitHub rejected the credentials (401: {message}).", status=401)
        if status == 404:
            return GitHubApiError(
                f"Not found: {what}. It does not exist, or the credentials cannot see it.",
                status=404,
            )
        if status in (409, 422):
            return GitHubApiError(
                f"GitHub could not do {what} ({status}: {message}).", status=status
            )
        return GitHubApiError(f"GitHub failed on {what} ({status}: {message}).", status=status)


def rate_limit_wait(
    status: int, headers: Mapping[str, str], data: Any, attempt: int
) -> float | None:
    """How long GitHub asks us to wait, or None if this 403/429 is not a rate limit."""
    retry_after = headers.get("retry-after") or headers.get("Retry-After")
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after.strip())
    remaining = headers.get("x-ratelimit-remaining") or headers.get("X-RateLimit-Remaining")
    reset = headers.get("x-ratelimit-reset") or headers.get("X-RateLimit-Reset")
    if remaining == "0" and reset and reset.strip().isdigit():
        return max(0.0, float(reset) - time.time()) + 1.0
    if "rate limit" in _message_of(data).lower() or status == 429:
        return 60.0 * (2**attempt)
    return None


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _decode(body: bytes, as_text: bool) -> Any:
    if not body:
        return None
    if as_text:
        return body.decode("utf-8", errors="replace")
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", errors="replace")
