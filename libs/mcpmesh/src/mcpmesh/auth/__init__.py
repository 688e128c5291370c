"""Who is calling: the principal an access token names, and the errors that refuse a call.

``Principal`` and ``AuthError`` sit below ``server/`` (a Context carries a Principal) and
import nothing of the protocol, so every layer may use them. The rest is the resource
server (OAuth 2.1, RFC 9728, RFC 8707, RFC 9449): :class:`Authenticator` checks a
request's token; the ``challenge`` and ``metadata`` helpers build what clients read.
"""

from mcpmesh.auth.authenticator import Authenticator, principal_from_claims
from mcpmesh.auth.challenge import bearer_challenge, insufficient_scope, unauthorized
from mcpmesh.auth.dpop import DPoPVerifier, MemoryReplayCache, ReplayCache
from mcpmesh.auth.metadata import metadata_paths, metadata_url, protected_resource_metadata
from mcpmesh.auth.principal import AuthError, Principal
from mcpmesh.auth.settings import AuthSettings, exposure_warning

__all__ = [
    "AuthError",
    "AuthSettings",
    "Authenticator",
    "DPoPVerifier",
    "MemoryReplayCache",
    "Principal",
    "ReplayCache",
    "bearer_challenge",
    "exposure_warning",
    "insufficient_scope",
    "metadata_paths",
    "metadata_url",
    "principal_from_claims",
    "protected_resource_metadata",
    "unauthorized",
]
