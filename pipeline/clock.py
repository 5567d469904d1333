"""Where the pipeline reads time from, so tests can run it on virtual time."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "LoopClock", "MonotonicClock"]


class Clock(Protocol):
    """Where stages and channels read time from, so tests can inject their own."""

    def now_ns(self) -> int:
        """Nanoseconds on this clock; only differences mean anything."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic_ns``, the clock asyncio's own timers follow and
    the one sources stamp ``origin_ns`` with."""

    def now_ns(self) -> int:
        """Nanoseconds on the monotonic clock."""
        return time.monotonic_ns()


class LoopClock:
    """The running event loop's clock. On a virtual-time loop (tests), time passes only
    when the loop has nothing to do, so deadlines and back-off need no real sleeps."""

    def now_ns(self) -> int:
        """Nanoseconds on the running loop's clock."""
        return int(asyncio.get_running_loop().time() * 1e9)
