"""Sender-constrained tokens (RFC 9449): a DPoP-bound token from the real authorization
server is accepted only with a fresh proof of its key for this very request."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import ECKey

from mcpmesh.auth import Authenticator, AuthError
from mcpmesh.embedded.authserver import AuthServer

from .conftest import (
    GITHUB,
    authorization_code_token,
    client_credentials_token,
    dpop_proof,
    headers,
    new_dpop_key,
    settings_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def key() -> ECKey:
    return new_dpop_key()


@pytest.fixture
async def bound(authserver: AuthServer, key: ECKey) -> str:
    """A client_credentials token bound to ``key`` (``cnf.jkt``)."""
    return await client_credentials_token(authserver, GITHUB, ["github:read"], dpop_key=key)


async def refusal(checker: Authenticator, method: str, url: str, **kwargs: str | None) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await checker.authenticate(method, url, headers(**kwargs))  # type: ignore[arg-type]
    assert caught.value.status == 401
    return caught.value


async def test_bound_token_with_a_proof_is_accepted(
    authenticator: Authenticator, bound: str, key: ECKey
) -> None:
    proof = dpop_proof(key, "POST", GITHUB, access_token=bound)
    principal = await authenticator.authenticate(
        "POST", GITHUB, headers(bound, scheme="DPoP", dpop=proof)
    )
    assert principal.jkt == key.thumbprint()


async def test_code_flow_with_dpop(authserver: AuthServer, authenticator: Authenticator) -> None:
    key = new_dpop_key()
    tokens = await authorization_code_token(authserver, GITHUB, ["github:read"], dpop_key=key)
    assert tokens["token_type"] == "DPoP"
    token = tokens["access_token"]
    proof = dpop_proof(key, "GET", GITHUB + "?ignored=query#and-fragment", access_token=token)
    principal = await authenticator.authenticate(
        "GET", GITHUB, headers(token, scheme="DPoP", dpop=proof)
    )
    assert (principal.subject, principal.jkt) == ("alice", key.thumbprint())


async def test_bound_token_as_bearer_is_refused(
    authenticator: Authenticator, bound: str, key: ECKey
) -> None:
    proof = dpop_proof(key, "POST", GITHUB, access_token=bound)
    refused = await refusal(authenticator, "POST", GITHUB, token=bound, dpop=proof)
    assert 'DPoP error="invalid_token"' in refused.www_authenticate


async def test_missing_proof(authenticator: Authenticator, bound: str) -> None:
    refused = await refusal(authenticator, "POST", GITHUB, token=bound, scheme="DPoP")
    assert 'DPoP error="invalid_dpop_proof"' in refused.www_authenticate
    assert 'algs="ES256 EdDSA RS256 PS256"' in refused.www_authenticate
    assert "resource_metadata=" in refused.www_authenticate  # the Bearer challenge stays


async def test_replayed_proof(authenticator: Authenticator, bound: str, key: ECKey) -> None:
    proof = dpop_proof(key, "POST", GITHUB, access_token=bound)
    request = headers(bound, scheme="DPoP", dpop=proof)
    await authenticator.authenticate("POST", GITHUB, request)
    with pytest.raises(AuthError, match="already used") as caught:
        await authenticator.authenticate("POST", GITHUB, request)
    assert 'error="invalid_dpop_proof"' in caught.value.www_authenticate


@pytest.mark.parametrize(
    ("method", "url", "why"),
    [
        ("POST", "http://127.0.0.1:8102/mcp", "htu"),  # another service
        ("POST", "http://127.0.0.1:8101/other", "htu"),  # another path
        ("DELETE", GITHUB, "htm"),
    ],
)
async def test_proof_for_another_request(
    authenticator: Authenticator, bound: str, key: ECKey, method: str, url: str, why: str
) -> None:
    proof = dpop_proof(key, method, url, access_token=bound)
    refused = await refusal(authenticator, "POST", GITHUB, token=bound, scheme="DPoP", dpop=proof)
    assert f"{why} does not match" in refused.message


async def test_proof_for_another_token(
    authserver: AuthServer, authenticator: Authenticator, bound: str, key: ECKey
) -> None:
    other = await client_credentials_token(authserver, GITHUB, ["github:read"], dpop_key=key)
    proof = dpop_proof(key, "POST", GITHUB, access_token=other)
    refused = await refusal(authenticator, "POST", GITHUB, token=bound, scheme="DPoP", dpop=proof)
    assert "ath does not match" in refused.message


async def test_proof_by_another_key(authenticator: Authenticator, bound: str) -> None:
    """The stolen-token case: the thief signs proofs with a key of their own."""
    proof = dpop_proof(new_dpop_key(), "POST", GITHUB, access_token=bound)
    refused = await refusal(authenticator, "POST", GITHUB, token=bound, scheme="DPoP", dpop=proof)
    assert "not the token's key" in refused.message


@pytest.mark.parametrize("age", [-400.0, 120.0])
async def test_proof_outside_the_time_window(
    authenticator: Authenticator, bound: str, key: ECKey, age: float
) -> None:
    proof = dpop_proof(key, "POST", GITHUB, access_token=bound, iat=time.time() + age)
    refused = await refusal(authenticator, "POST", GITHUB, token=bound, scheme="DPoP", dpop=proof)
    assert "iat" in refused.message


async def test_unbound_token_with_dpop_scheme(
    authserver: AuthServer, authenticator: Authenticator, key: ECKey
) -> None:
    token = await client_credentials_token(authserver, GITHUB, ["github:read"])
    proof = dpop_proof(key, "POST", GITHUB, access_token=token)
    refused = await refusal(authenticator, "POST", GITHUB, token=token, scheme="DPoP", dpop=proof)
    assert "bound to a key" in refused.message


async def test_required_dpop_refuses_unbound_tokens(
    authserver: AuthServer, bound: str, key: ECKey
) -> None:
    token = await client_credentials_token(authserver, GITHUB, ["github:read"])
    async with Authenticator(settings_for(authserver, require_dpop=True)) as checker:
        refused = await refusal(checker, "POST", GITHUB, token=token)
        assert 'DPoP error="invalid_token"' in refused.www_authenticate
        proof = dpop_proof(key, "POST", GITHUB, access_token=bound)
        request = headers(bound, scheme="DPoP", dpop=proof)
        assert (await checker.authenticate("POST", GITHUB, request)).jkt == key.thumbprint()
        assert checker.metadata_document()["dpop_bound_access_tokens_required"] is True
