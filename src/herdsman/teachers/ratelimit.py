"""Requests-per-minute and tokens-per-minute limits for async teachers.

A token bucket per limit, refilled continuously. Token use is not known before
a call, so a call reserves an estimate and settles the difference afterwards
(the bucket may go negative, which delays later calls).
"""

from __future__ import annotations

import asyncio
import time


class RateBucket:
    """A continuously refilled token bucket, usable from one event loop.

    Args:
        per_minute: Refill per minute (the limit).
        burst_s: Capacity, in seconds of refill: the default of one second
            paces calls evenly instead of spending a minute's budget at once.
    """

    def __init__(self, per_minute: float, burst_s: float = 1.0) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    async def acquire(self, amount: float = 1.0) -> float:
        """Wait until ``amount`` is available, then take it.

        An amount above capacity waits for a full bucket; the amount actually
        taken is returned so the caller can :meth:`settle` against it.
        """
        amount = min(amount, self.capacity)
        async with self._lock:
            while True:
                self._refill()
                if self.level >= amount:
                    self.level -= amount
                    return amount
                await asyncio.sleep((amount - self.level) / self.rate)

    def settle(self, delta: float) -> None:
        """Charge (positive) or refund (negative) the difference from an estimate."""
        self._refill()
        self.level = min(self.capacity, self.level - delta)
