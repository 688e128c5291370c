"""``WWW-Authenticate`` challenges (RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1).

A client that gets a 401 learns from the challenge where the protected resource metadata
is (and so which authorization server to ask) and which scopes to ask for; a 403 names
every scope the refused call needs, so the client can step up in one round.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcpmesh.auth.principal import AuthError

#: RFC 6750 §3.1 error codes and their statuses.
_STATUS = {"invalid_request": 400, "invalid_token": 401, "insufficient_scope": 403}


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _challenge(scheme: str, params: dict[str, str | None]) -> str:
    shown = ", ".join(f"{name}={_quote(value)}" for name, value in params.items() if value)
    return f"{scheme} {shown}" if shown else scheme


def bearer_challenge(
    resource_metadata: str,
    *,
    scopes: Iterable[str] = (),
    error: str | None = None,
    description: str | None = None,
) -> str:
    """The ``Bearer`` challenge MCP clients read: ``resource_metadata`` and ``scope``."""
    return _challenge(
        "Bearer",
        {
            "error": error,
            "error_description": description,
            "scope": " ".join(scopes) or None,
            "resource_metadata": resource_metadata,
        },
    )


def dpop_challenge(
    algorithms: Iterable[str], *, error: str | None = None, description: str | None = None
) -> str:
    """The ``DPoP`` challenge: which proof algorithms are accepted, and what was wrong."""
    return _challenge(
        "DPoP", {"error": error, "error_description": description, "algs": " ".join(algorithms)}
    )


def unauthorized(
    resource_metadata: str,
    *,
    scopes: Iterable[str] = (),
    error: str | None = None,
    description: str | None = None,
    dpop_algorithms: Iterable[str] = (),
    dpop_error: str | None = None,
) -> AuthError:
    """A refusal of the token itself: 401 (400 for ``invalid_request``).

    No ``error`` when the request carried no credentials (RFC 6750 §3.1). With
    ``dpop_algorithms`` a ``DPoP`` challenge follows the ``Bearer`` one; a DPoP-specific
    problem (``dpop_error``, e.g. ``invalid_dpop_proof``) is reported there.
    """
    challenges = [
        bearer_challenge(
            resource_metadata,
            scopes=scopes,
            error=error,
            # no error, no description: a request without credentials (RFC 6750 §3.1)
            description=None if dpop_error or error is None else description,
        )
    ]
    algorithms = list(dpop_algorithms)
    if algorithms:
        challenges.append(
            dpop_challenge(
                algorithms, error=dpop_error, description=description if dpop_error else None
            )
        )
    status = _STATUS.get(error or "", 401) if not dpop_error else 401
    return AuthError(status, description or "authentication required", ", ".join(challenges))


def insufficient_scope(
    resource_metadata: str, needed: Iterable[str], *, description: str | None = None
) -> AuthError:
    """403 naming every scope the call needs (all of them, not only the missing ones, so
    a client that re-authorizes with them gets a token that covers the call)."""
    scopes = sorted(set(needed))
    message = description or f"this call needs the scopes: {' '.join(scopes)}"
    return AuthError(
        403,
        message,
        bearer_challenge(
            resource_metadata, scopes=scopes, error="insufficient_scope", description=message
        ),
    )
