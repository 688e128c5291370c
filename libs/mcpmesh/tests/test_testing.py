"""The test helpers themselves: a wait that never succeeds fails, and says why; the
manual clock wakes sleepers only when moved past them."""

from __future__ import annotations

import asyncio

import pytest

from mcpmesh.secrets.cache import LeaseCache, Leased
from mcpmesh.testing import ManualClock, eventually


async def test_eventually_returns_the_first_truthy_value_sync_or_async() -> None:
    calls = 0

    def third_time() -> int:
        nonlocal calls
        calls += 1
        return calls if calls >= 3 else 0

    assert await eventually(third_time) == 3

    async def ready() -> str:
        return "ready"

    assert await eventually(ready) == "ready"


async def test_eventually_fails_with_the_message_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"never ready \(within 0.05 s; last value \[\]\)"):
        await eventually(list, timeout=0.05, message="never ready")


async def test_eventually_retries_errors_and_reports_the_last_one() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("port closed")

    with pytest.raises(AssertionError, match="last error ConnectionRefusedError: port closed"):
        await eventually(refused, timeout=0.05)


async def test_eventually_bounds_a_condition_that_hangs() -> None:
    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    started = asyncio.get_running_loop().time()
    with pytest.raises(AssertionError, match="TimeoutError"):
        await eventually(hangs, timeout=0.1)
    assert asyncio.get_running_loop().time() - started < 1


async def test_manual_clock_wakes_sleepers_only_when_advanced_past_them() -> None:
    clock = ManualClock()
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    tasks = [asyncio.create_task(sleeper(s)) for s in (1.0, 2.0)]
    await eventually(lambda: clock.deadlines == [1.0, 2.0])
    clock.advance(0.5)
    assert clock.deadlines == [1.0, 2.0]  # nobody due yet: nobody woken
    clock.advance(0.5)
    await eventually(lambda: woke == [1.0])
    clock.advance(1.0)
    await asyncio.gather(*tasks)
    assert woke == [1.0, 2.0] and clock.monotonic() == 2.0
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_lease_cache_refreshes_and_expires_on_its_clock() -> None:
    clock = ManualClock()
    cache: LeaseCache[str] = LeaseCache(clock)
    values = iter(["first", "second"])

    async def fetch() -> Leased[str]:
        return Leased.for_ttl(next(values), 10, 0.5, now=clock.monotonic())

    assert await cache.get("k", fetch) == "first"
    clock.advance(4.9)
    assert await cache.get("k", fetch) == "first"
    clock.advance(0.2)  # past the refresh point
    assert await cache.get("k", fetch) == "second"
    clock.advance(10.1)  # past expiry
    assert cache.peek("k") is None
