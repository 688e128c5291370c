"""Discovery documents: this service's protected resource metadata (RFC 9728) and the
authorization servers' metadata (RFC 8414 / OpenID Connect Discovery)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"


class MetadataError(RuntimeError):
    """An authorization server's metadata is unreachable or does not describe it."""


def metadata_paths(resource: str) -> tuple[str, ...]:
    """Both places the metadata is served (RFC 9728 §3.1): the path-suffixed form
    ``/.well-known/oauth-protected-resource/mcp`` for ``https://host/mcp``, and the root
    form clients fall back to. One path when the resource is the origin itself."""
    path = urlsplit(resource).path.rstrip("/")
    return (WELL_KNOWN_PRM + path, WELL_KNOWN_PRM) if path else (WELL_KNOWN_PRM,)


def metadata_url(resource: str) -> str:
    """The ``resource_metadata`` URL a challenge names: the path-suffixed form."""
    parts = urlsplit(resource)
    return urlunsplit((parts.scheme, parts.netloc, metadata_paths(resource)[0], "", ""))


def protected_resource_metadata(
    resource: str,
    authorization_servers: Sequence[str],
    scopes_supported: Iterable[str],
    *,
    dpop_algorithms: Sequence[str] = (),
    dpop_bound_access_tokens_required: bool = False,
    resource_name: str | None = None,
) -> dict[str, Any]:
    """The RFC 9728 document: who may issue tokens for ``resource`` and what to ask for.

    Tokens are accepted only in the ``Authorization`` header (``bearer_methods_supported``),
    never in a query string or form body.
    """
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "scopes_supported": sorted(set(scopes_supported)),
        "bearer_methods_supported": ["header"],
    }
    if resource_name:
        document["resource_name"] = resource_name
    if dpop_algorithms:
        document["dpop_signing_alg_values_supported"] = list(dpop_algorithms)
    if dpop_bound_access_tokens_required:
        document["dpop_bound_access_tokens_required"] = True
    return document


def _discovery_urls(issuer: str) -> list[str]:
    """RFC 8414 §3.1 inserts the well-known segment before the issuer's path; OpenID
    Connect Discovery appends it. Both, in that order."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    base = (parts.scheme, parts.netloc)
    return [
        urlunsplit((*base, "/.well-known/oauth-authorization-server" + path, "", "")),
        urlunsplit((*base, path + "/.well-known/openid-configuration", "", "")),
    ]


async def fetch_issuer_metadata(
    http: aiohttp.ClientSession, issuer: str, timeout: float = 5.0
) -> dict[str, Any]:
    """The issuer's metadata, checked to name ``issuer`` itself (RFC 8414 §3.3: a
    document for another issuer is refused, against mix-up attacks)."""
    problems = []
    for url in _discovery_urls(issuer):
        try:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                if response.status != 200:
                    problems.append(f"{url}: HTTP {response.status}")
                    continue
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            problems.append(f"{url}: {exc or type(exc).__name__}")
            continue
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            problems.append(f"{url}: the document names another issuer")
            continue
        return document
    raise MetadataError(f"no metadata for issuer {issuer}: " + "; ".join(problems))
