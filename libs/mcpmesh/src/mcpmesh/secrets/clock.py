"""The clock the TTL logic reads: lease expiry, cache refresh, renewal timing.

Production uses :data:`SYSTEM_CLOCK`. A test hands the provider a clock it moves itself
(``mcpmesh.testing.ManualClock``), so "after the TTL" is one call instead of a sleep,
while the Vault on the other side stays real.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Where TTL logic gets "now" and waits: one seam, so tests can move time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines inside the process)."""
        ...

    def time(self) -> float:
        """UNIX time (expiry times handed to callers, e.g. ``DatabaseCredentials``)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class SystemClock:
    """The real clocks and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
