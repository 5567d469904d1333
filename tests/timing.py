"""Time in tests: limits that scale for slow machines, and a loop with virtual time.

``seconds(n)`` is a limit of ``n`` seconds times ``CANVASCAP_TEST_TIMEOUT_FACTOR`` (1 by
default): raise it on a slow or loaded machine rather than editing tests.

``run_virtual(coro)`` runs a coroutine on an event loop whose clock moves only when the
loop has nothing else to do: a 10 s back-off passes at once, in order with every other
timer, so tests of deadlines and retries are exact and take no real time. Stages under
such a test read time through ``LoopClock``. Real I/O still works (it is polled first),
but time does not wait for it, so use it only with in-process fakes.
"""

from __future__ import annotations

import asyncio
import os
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_virtual", "seconds"]

T = TypeVar("T")

FACTOR = float(os.environ.get("CANVASCAP_TEST_TIMEOUT_FACTOR", "1"))


def seconds(limit: float) -> float:
    """A time limit, scaled for this machine."""
    return limit * FACTOR


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.virtual_s = 0.0
        super().__init__(selector=_Selector(self))

    def time(self) -> float:
        return self.virtual_s


class _Selector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """Polls for I/O; when none is ready, jumps the clock to the next timer."""

    def __init__(self, loop: _VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:  # no timer pending: only I/O or another thread can help
            ready = super().select(seconds(60))
            if not ready:
                raise RuntimeError("the virtual-time loop has nothing left to wait for")
            return ready
        self._loop.virtual_s += timeout
        return []


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh virtual-time loop."""
    loop = _VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
