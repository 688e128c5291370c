"""Access tokens from the real authorization server, accepted or refused by the
:class:`~mcpmesh.auth.Authenticator` with the status and challenge RFC 6750 / RFC 9728 ask."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc.jwk import RSAKey

from mcpmesh.auth import Authenticator, AuthError
from mcpmesh.embedded.authserver import AuthServer

from .conftest import (
    GITHUB,
    SLACK,
    authorization_code_token,
    client_credentials_token,
    headers,
    settings_for,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PRM = "http://127.0.0.1:8101/.well-known/oauth-protected-resource/mcp"


async def refused(checker: Authenticator, token: str | None, **kwargs: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await checker.authenticate("POST", GITHUB, headers(token, **kwargs))
    return caught.value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    """The payload, unverified (to forge variants of a real token)."""
    return dict(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==")))


async def test_client_credentials_token_names_the_client_and_its_scopes(
    authserver: AuthServer, authenticator: Authenticator
) -> None:
    token = await client_credentials_token(authserver, GITHUB, ["github:read"])
    principal = await authenticator.authenticate("POST", GITHUB, headers(token))
    assert principal.issuer == authserver.issuer
    assert principal.subject == principal.client_id == "mcpmesh-dev"
    assert principal.scopes == {"github:read"}
    assert principal.jkt is None


async def test_code_flow_token_names_the_user(
    authserver: AuthServer, authenticator: Authenticator
) -> None:
    tokens = await authorization_code_token(authserver, GITHUB, ["github:read", "github:write"])
    assert "refresh_token" not in tokens  # no offline_access, no refresh tokens
    principal = await authenticator.authenticate("POST", GITHUB, headers(tokens["access_token"]))
    assert principal.subject == "alice"
    assert principal.scopes == {"github:read", "github:write"}
    assert principal.client_id and principal.client_id != "mcpmesh-dev"


async def test_two_users_are_two_principals(
    authserver: AuthServer, authenticator: Authenticator
) -> None:
    alice = await authorization_code_token(authserver, GITHUB, ["github:read"], user="alice")
    bob = await authorization_code_token(authserver, GITHUB, ["github:read"], user="bob")
    first = await authenticator.authenticate("GET", GITHUB, headers(alice["access_token"]))
    second = await authenticator.authenticate("GET", GITHUB, headers(bob["access_token"]))
    assert (first.subject, second.subject) == ("alice", "bob")
    assert first.binding != second.binding


async def test_no_token_gets_the_challenge_without_error(authenticator: Authenticator) -> None:
    refusal = await refused(authenticator, None)
    assert refusal.status == 401
    bearer = refusal.www_authenticate.split(", DPoP")[0]
    assert bearer == f'Bearer scope="github:read github:write", resource_metadata="{PRM}"'
    assert "error=" not in refusal.www_authenticate


async def test_other_schemes_and_garbage_are_refused(authenticator: Authenticator) -> None:
    basic = await refused(authenticator, "dXNlcjpwYXNz", scheme="Basic")
    assert basic.status == 401 and "error=" not in basic.www_authenticate
    garbage = await refused(authenticator, "totally-invalid")
    assert garbage.status == 401 and 'error="invalid_token"' in garbage.www_authenticate
    malformed = await refused(authenticator, "two words")
    assert malformed.status == 400 and 'error="invalid_request"' in malformed.www_authenticate


async def test_expired_token(authserver: AuthServer) -> None:
    token = await client_credentials_token(authserver, GITHUB, ["github:read"])
    expires = _claims(token)["exp"]
    assert isinstance(expires, int)
    later = lambda: expires + 31.0  # noqa: E731  past exp + the 30 s leeway
    async with Authenticator(settings_for(authserver), clock=later) as checker:
        refusal = await refused(checker, token)
    assert refusal.status == 401
    assert 'error="invalid_token"' in refusal.www_authenticate
    assert "expired" in refusal.message
    within = lambda: expires + 29.0  # noqa: E731  within the leeway: still accepted
    async with Authenticator(settings_for(authserver), clock=within) as checker:
        assert (await checker.authenticate("POST", GITHUB, headers(token))).subject


async def test_token_for_another_resource(
    authserver: AuthServer, authenticator: Authenticator
) -> None:
    token = await client_credentials_token(authserver, SLACK, ["slack:read"])
    refusal = await refused(authenticator, token)
    assert refusal.status == 401 and 'error="invalid_token"' in refusal.www_authenticate
    assert refusal.message == "token not issued for this resource"


async def test_token_from_another_issuer(
    other_authserver: AuthServer, authenticator: Authenticator
) -> None:
    token = await client_credentials_token(other_authserver, GITHUB, ["github:read"])
    refusal = await refused(authenticator, token)
    assert refusal.status == 401 and 'error="invalid_token"' in refusal.www_authenticate


async def test_two_trusted_issuers(authserver: AuthServer, other_authserver: AuthServer) -> None:
    settings = settings_for(authserver)
    settings = type(settings)(issuers=[authserver.issuer, other_authserver.issuer], resource=GITHUB)
    async with Authenticator(settings) as checker:
        for server in (authserver, other_authserver):
            token = await client_credentials_token(server, GITHUB, ["github:read"])
            principal = await checker.authenticate("POST", GITHUB, headers(token))
            assert principal.issuer == server.issuer


async def test_alg_none_forgery(authserver: AuthServer, authenticator: Authenticator) -> None:
    real = await client_credentials_token(authserver, GITHUB, ["github:read"])
    claims = {**_claims(real), "sub": "admin", "scope": "github:read github:write"}
    header = {"alg": "none", "typ": "at+jwt"}
    forged = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
    refusal = await refused(authenticator, forged)
    assert refusal.status == 401 and "'none' not accepted" in refusal.message


async def test_hs256_signed_with_the_public_key(
    authserver: AuthServer, authenticator: Authenticator
) -> None:
    """The classic key-confusion forgery: HMAC with the issuer's published RSA key."""
    real = await client_credentials_token(authserver, GITHUB, ["github:read"])
    kid = json.loads(base64.urlsafe_b64decode(real.split(".")[0] + "=="))["kid"]
    jwks = json.loads((authserver.home / "keys.json").read_text())
    public = RSAKey.import_key({k: v for k, v in jwks["keys"][0].items() if k in "kty n e"})
    pem = public.as_pem(private=False)
    claims = {**_claims(real), "sub": "admin"}
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    refusal = await refused(authenticator, f"{signing_input}.{_b64(mac)}")
    assert refusal.status == 401 and "'HS256' not accepted" in refusal.message


async def test_tampered_claims_break_the_signature(
    authserver: AuthServer, authenticator: Authenticator
) -> None:
    real = await client_credentials_token(authserver, GITHUB, ["github:read"])
    head, _, signature = real.split(".")
    claims = {**_claims(real), "scope": "github:read github:write"}
    refusal = await refused(
        authenticator, f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
    )
    assert refusal.message == "bad signature"


async def test_validated_tokens_are_cached_until_they_expire(authserver: AuthServer) -> None:
    token = await client_credentials_token(authserver, GITHUB, ["github:read"])
    now = [time.time()]
    async with Authenticator(settings_for(authserver), clock=lambda: now[0]) as checker:
        await checker.authenticate("POST", GITHUB, headers(token))
        validator = checker.validator(authserver.issuer)
        assert validator is not None
        checked: list[str] = []
        real_validate = validator.validate

        async def counting(value: str) -> dict[str, object]:
            checked.append(value)
            return await real_validate(value)

        validator.validate = counting  # type: ignore[method-assign]
        await checker.authenticate("POST", GITHUB, headers(token))
        assert checked == []  # answered from the cache of verified tokens
        now[0] = float(_claims(token)["exp"]) + 31  # type: ignore[arg-type]
        with pytest.raises(AuthError, match="expired"):
            await checker.authenticate("POST", GITHUB, headers(token))
        assert checked == [token]  # past expiry the cache no longer answers
