"""Static secrets from a real OpenBao: KV v2 reads, cache, single-flight, policies,
principals, Vault going away."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import hvac
import hvac.exceptions
import pytest

from mcpmesh.secrets import SecretUnavailable, VaultSecretProvider, VaultSettings
from mcpmesh.testing import ManualClock, eventually

from .conftest import VaultKit, admin

GITHUB_TOKEN = "ghp_" + "Tq7" * 12


async def test_reads_kv_v2_secret_of_its_service(kit: VaultKit) -> None:
    await kit.write("services/github/token", GITHUB_TOKEN)
    provider = await kit.provider("github")
    assert await provider.get("token") == GITHUB_TOKEN


async def test_cached_value_is_served_without_asking_vault_again(kit: VaultKit) -> None:
    await kit.write("services/github/token", GITHUB_TOKEN)
    provider = await kit.provider("github", cache_ttl=60)
    await provider.get("token")
    asked = provider.requests
    await kit.write("services/github/token", "changed-in-vault")
    assert await provider.get("token") == GITHUB_TOKEN
    assert provider.requests == asked


async def test_forget_reads_a_rotated_secret_at_once(kit: VaultKit) -> None:
    """A service whose token was rejected forgets it, and gets the rotated one next."""
    await kit.write("services/github/token", GITHUB_TOKEN)
    provider = await kit.provider("github", cache_ttl=60)
    assert await provider.get("token") == GITHUB_TOKEN
    await kit.write("services/github/token", "rotated-in-vault")
    await provider.forget("token", principal="someone-without-own-secrets")
    assert await provider.get("token") == GITHUB_TOKEN  # another principal's entry: untouched
    await provider.forget("token")
    assert await provider.get("token") == "rotated-in-vault"


async def test_value_is_read_again_after_the_cache_ttl(kit: VaultKit) -> None:
    await kit.write("services/github/token", "first-value")
    clock = ManualClock()
    provider = await kit.provider("github", cache_ttl=0.6, refresh_fraction=0.5, clock=clock)
    assert await provider.get("token") == "first-value"
    await kit.write("services/github/token", "second-value")
    clock.advance(0.29)  # before the refresh point: still the cached value
    assert await provider.get("token") == "first-value"
    clock.advance(0.42)
    assert await provider.get("token") == "second-value"


async def test_burst_of_100_concurrent_calls_makes_one_vault_read(kit: VaultKit) -> None:
    """Counted on the server side, from Vault's own audit log."""
    audit = kit.server.audit_log
    await kit.write("services/slack/bot_token", "xoxb-1111-2222-abcdefghijkl")
    provider = await kit.provider("slack")
    values = await asyncio.gather(*(provider.get("bot_token") for _ in range(100)))
    assert set(values) == {"xoxb-1111-2222-abcdefghijkl"}
    reads = [
        entry
        for entry in map(json.loads, audit.read_text().splitlines())
        if entry["type"] == "request"
        and entry["request"]["path"] == "mcpmesh/data/services/slack/bot_token"
        and entry["request"]["operation"] == "read"
    ]
    assert len(reads) == 1
    assert provider._static.fetches == 1


async def test_cancelled_caller_does_not_cancel_the_shared_fetch(kit: VaultKit) -> None:
    await kit.write("services/github/token", GITHUB_TOKEN)
    provider = await kit.provider("github")
    impatient = asyncio.create_task(provider.get("token"))
    patient = asyncio.create_task(provider.get("token"))
    # Yield one loop step at a time: the fetch registers itself on its first step, then
    # waits on Vault in a worker thread, so it is seen in flight before it can finish
    # (polling with sleeps could miss a fast fetch altogether on a quick machine).
    for _ in range(1000):
        if provider._static._inflight:
            break
        await asyncio.sleep(0)
    assert provider._static._inflight, "no fetch started"
    impatient.cancel()
    assert await patient == GITHUB_TOKEN


async def test_missing_secret_says_what_and_how_to_set_it(kit: VaultKit) -> None:
    provider = await kit.provider("github")
    with pytest.raises(SecretUnavailable) as caught:
        await provider.get("token")
    message = str(caught.value)
    assert "github" in message and "'token'" in message
    assert "mcpmesh secrets set github token" in message


async def test_policy_denies_another_services_path(kit: VaultKit) -> None:
    """A compromised GitHub service (its AppRole token) cannot read Slack's tokens."""
    await kit.write("services/slack/bot_token", "xoxb-9999-8888-slacksecret")
    as_slack_with_github_login = await kit.provider("slack", login_as="github")
    with pytest.raises(SecretUnavailable) as caught:
        await as_slack_with_github_login.get("bot_token")
    assert "policy" in str(caught.value)
    assert "slacksecret" not in str(caught.value)
    # The same, bare: GitHub's token gets 403 on Slack's path and on database creds.
    github_token = as_slack_with_github_login._client.token
    bare = hvac.Client(url=kit.server.addr, token=github_token)
    with pytest.raises(hvac.exceptions.Forbidden):
        await admin(
            lambda: bare.secrets.kv.v2.read_secret_version(
                path="services/slack/bot_token",
                mount_point="mcpmesh",
                raise_on_deleted_version=True,
            )
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        await admin(lambda: bare.secrets.kv.v2.list_secrets(path="services", mount_point="mcpmesh"))


async def test_principal_secret_is_looked_up_first_then_the_services(kit: VaultKit) -> None:
    await kit.write("services/github/token", "service-wide-token")
    await kit.write("services/github/principals/alice@example.com/token", "alices-own-token")
    provider = await kit.provider("github")
    assert await provider.get("token", principal="alice@example.com") == "alices-own-token"
    assert await provider.get("token", principal="bob") == "service-wide-token"
    assert await provider.get("token") == "service-wide-token"


async def test_principal_without_own_secret_fails_when_fallback_is_off(kit: VaultKit) -> None:
    await kit.write("services/github/token", "service-wide-token")
    provider = await kit.provider("github", principal_fallback=False)
    with pytest.raises(SecretUnavailable) as caught:
        await provider.get("token", principal="bob")
    assert "--for bob" in str(caught.value)


async def test_a_principal_cannot_climb_out_of_its_path(kit: VaultKit) -> None:
    await kit.write("services/github/token", "service-wide-token")
    await kit.write("services/github/principals/alice/token", "alices-own-token")
    provider = await kit.provider("github")
    # Not a valid path segment: no principal lookup at all, the service's secret.
    assert await provider.get("token", principal="x/../alice") == "service-wide-token"
    with pytest.raises(SecretUnavailable):
        await provider.get("../slack/bot_token")


async def test_vault_going_away_cached_keep_serving_else_clear_error(kit: VaultKit) -> None:
    await kit.write("services/github/token", GITHUB_TOKEN)
    await kit.write("services/github/app_id", "123456")
    clock = ManualClock()
    provider = await kit.provider(
        "github", cache_ttl=2.0, refresh_fraction=0.25, timeout=1.0, clock=clock
    )
    assert await provider.get("token") == GITHUB_TOKEN
    await kit.server.stop()
    # Past the refresh point: the refresh fails, the unexpired value is still served.
    clock.advance(0.6)
    assert await provider.get("token") == GITHUB_TOKEN
    with pytest.raises(SecretUnavailable) as caught:
        await provider.get("app_id")
    message = str(caught.value)
    assert "unreachable" in message and "MCPMESH_VAULT_ADDR" in message
    # Past expiry: nothing is served any more.
    clock.advance(1.6)
    with pytest.raises(SecretUnavailable) as caught:
        await provider.get("token")
    assert GITHUB_TOKEN not in str(caught.value)


async def test_token_is_renewed_before_it_expires(kit: VaultKit) -> None:
    await kit.set_token_ttl("github", "2s", "1h")
    await kit.write("services/github/token", GITHUB_TOKEN)
    clock = ManualClock()
    provider = await kit.provider("github", cache_ttl=0.3, clock=clock)
    await provider.get("token")
    before = (await admin(provider._client.auth.token.lookup_self))["data"]
    assert not before.get("last_renewal_time")
    await eventually(lambda: clock.deadlines, message="the token keeper never waited")
    clock.advance(1.4)  # past the refresh point (2/3 of the token's 2 s TTL)

    async def renewed() -> dict:
        data = (await admin(provider._client.auth.token.lookup_self))["data"]
        return data if data.get("last_renewal_time") else {}

    after = await eventually(renewed, message="Vault never saw the token renewed")
    assert after["accessor"] == before["accessor"]  # the same token, renewed, not a new login
    assert provider._token_generation == 1
    clock.advance(0.4)  # past the cache TTL: read again with the renewed token
    assert await provider.get("token") == GITHUB_TOKEN


async def test_relogin_when_the_token_reaches_its_max_ttl(kit: VaultKit) -> None:
    await kit.set_token_ttl("github", "2s", "2s")
    await kit.write("services/github/token", GITHUB_TOKEN)
    provider = await kit.provider("github", cache_ttl=0.3)
    await provider.get("token")
    first = provider._client.token
    # The real clock: Vault caps a renewal by the max TTL counted in real time, so only
    # real time brings the cap (the keeper renews, sees less back, logs in again).
    await eventually(lambda: provider._token_generation >= 2, message="no new login")
    assert await provider.get("token") == GITHUB_TOKEN
    assert provider._client.token != first
    # The first token really reaches its end (Vault's own clock, real time).
    old = hvac.Client(url=kit.server.addr, token=first)

    async def first_token_gone() -> bool:
        try:
            await admin(old.auth.token.lookup_self)
        except hvac.exceptions.Forbidden:
            return True
        return False

    await eventually(first_token_gone, message="the first token outlived its max TTL")


async def test_relogin_when_the_token_was_revoked_behind_its_back(kit: VaultKit) -> None:
    await kit.write("services/github/token", GITHUB_TOKEN)
    clock = ManualClock()
    provider = await kit.provider("github", cache_ttl=0.1, clock=clock)
    await provider.get("token")
    stolen = provider._client.token
    await admin(lambda: kit.root.auth.token.revoke(stolen))
    clock.advance(0.2)
    assert await provider.get("token") == GITHUB_TOKEN
    assert provider._client.token != stolen


async def test_expired_static_token_gives_a_clear_message(kit: VaultKit) -> None:
    created = await admin(
        lambda: kit.root.auth.token.create(policies=["mcpmesh-github"], ttl="1s", renewable=False)
    )
    token = created["auth"]["client_token"]
    await kit.write("services/github/token", GITHUB_TOKEN)
    clock = ManualClock()
    provider = VaultSecretProvider(
        "github",
        VaultSettings(addr=kit.server.addr, auth="token", token=token, cache_ttl=0.1),
        clock=clock,
    )
    kit.providers.append(provider)
    assert await provider.get("token") == GITHUB_TOKEN

    async def token_expired_in_vault() -> bool:
        try:
            await admin(hvac.Client(url=kit.server.addr, token=token).auth.token.lookup_self)
        except hvac.exceptions.Forbidden:
            return True
        return False

    await eventually(token_expired_in_vault, message="Vault kept the 1 s token")
    clock.advance(0.2)  # past the cache TTL
    with pytest.raises(SecretUnavailable) as caught:
        await provider.get("token")
    assert "MCPMESH_VAULT_TOKEN" in str(caught.value)
    assert token not in str(caught.value)


async def test_hvac_runs_off_the_event_loop(kit: VaultKit) -> None:
    """Every Vault HTTP call runs in the provider's worker threads, never on the loop's
    thread, and no more than ``max_concurrency`` of them at once."""
    await kit.write("services/github/token", GITHUB_TOKEN)
    provider = await kit.provider("github", max_concurrency=2)
    loop_thread = threading.current_thread()
    threads: list[threading.Thread] = []
    running = 0
    most = 0
    guard = threading.Lock()
    adapter = provider._client.adapter
    original = adapter.request

    def watched(*args: object, **kwargs: object) -> object:
        nonlocal running, most
        with guard:
            threads.append(threading.current_thread())
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.01)  # keep calls overlapping so the bound is exercised
            return original(*args, **kwargs)
        finally:
            with guard:
                running -= 1

    adapter.request = watched
    await asyncio.gather(*(provider.get(f"n{i}") for i in range(20)), return_exceptions=True)
    assert threads, "no Vault call was made"
    assert loop_thread not in threads
    assert all(t.name.startswith("vault") for t in threads)
    assert most == 2


async def test_close_makes_the_provider_refuse_and_forget(kit: VaultKit) -> None:
    await kit.write("services/github/token", GITHUB_TOKEN)
    provider = await kit.provider("github")
    await provider.get("token")
    token = provider._client.token
    await provider.close()
    with pytest.raises(SecretUnavailable):
        await provider.get("token")
    # Its AppRole token was revoked with it.
    with pytest.raises(hvac.exceptions.Forbidden):
        await admin(hvac.Client(url=kit.server.addr, token=token).auth.token.lookup_self)
