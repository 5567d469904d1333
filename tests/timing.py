"""Time in tests: limits that scale for slow machines, and a loop with virtual time.

``seconds(n)`` is a limit of ``n`` seconds times ``CANVASCAP_TEST_TIMEOUT_FACTOR`` (1 by
default): raise it on a slow or loaded machine rather than editing tests.

``until(condition)`` waits for something a test can see to become true (a message
arrived, a client joined), instead of sleeping for a guessed time. ``settle()`` lets
the loop run everything that is ready, to check that something is still waiting.

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
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_virtual", "seconds", "settle", "until"]

T = TypeVar("T")

FACTOR = float(os.environ.get("CANVASCAP_TEST_TIMEOUT_FACTOR", "1"))


def seconds(limit: float) -> float:
    """A time limit, scaled for this machine."""
    return limit * FACTOR


POLL_S = 0.005


async def until(condition: Callable[[], object], limit_s: float = 10, what: str = "") -> None:
    """Return once ``condition()`` is true; fail after ``limit_s`` (scaled) saying what
    did not happen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds(limit_s)
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {limit_s} s: {what or condition}")
        await asyncio.sleep(POLL_S)


async def settle(rounds: int = 10) -> None:
    """Let every task that can run, run (no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


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
