"""Bounded channels between stages, each with an explicit overflow policy.

A live source cannot be slowed down, so a full queue is resolved by a policy chosen
per edge instead of unbounded growth (the vocabulary comes from GStreamer's leaky
queues):

==============  =======================================================================
policy          when the channel is full
==============  =======================================================================
``block``       the sender waits (back-pressure) - for edges where every item matters
``drop_oldest`` the oldest item is evicted and counted - the audio edge, because the
                sound-card callback must never wait
``coalesce``    a new revision replaces the queued revision of the same key (``id``,
                or ``(id, lang)`` for captions) in place,
                unless that one is final; when full the oldest non-final item is
                evicted; finals are never dropped, so if only finals are queued the
                sender waits
==============  =======================================================================

With ``coalesce`` the partial-caption rate tunes itself to what the consumer can
sustain: a slow consumer always works on the newest snapshot, never on a backlog.

End of stream is ``close()``: the receiver drains what is queued and its ``async for``
ends; a later ``send`` raises :class:`Closed`. Every channel has one producer and one
consumer. Asyncio's own ``Queue.shutdown`` needs Python 3.13, hence this small class.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from canvascap.pipeline.clock import Clock, MonotonicClock
from canvascap.pipeline.types import Keyed, Timed

__all__ = [
    "Channel",
    "Closed",
    "Discard",
    "EdgeStats",
    "FanOut",
    "Full",
    "Policy",
    "Receiver",
    "Sender",
]

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)
T_co = TypeVar("T_co", covariant=True)


class Closed(Exception):
    """Raised when sending on a channel that was closed."""


class Full(Exception):
    """Raised by ``send_nowait`` when the policy would make the sender wait."""


class Policy(StrEnum):
    """What a full channel does with a new item."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    COALESCE = "coalesce"


@dataclass
class EdgeStats:
    """Counters for one edge, read by the metrics snapshot."""

    sent: int = 0
    dropped: int = 0
    coalesced: int = 0
    lags_s: deque[float] = field(default_factory=lambda: deque(maxlen=256))


class Sender(Protocol[T_contra]):
    """The producing end of a channel."""

    async def send(self, item: T_contra) -> None:
        """Put an item in, waiting only where the channel's policy says so."""
        ...

    def send_nowait(self, item: T_contra) -> None:
        """Put an item in now, or raise ``Full`` (or ``Closed``)."""
        ...

    def close(self) -> None:
        """End the stream: the receiver drains what is queued, then stops."""
        ...


class Receiver(Protocol[T_co]):
    """The consuming end of a channel."""

    def __aiter__(self) -> AsyncIterator[T_co]:
        """Items in order until the channel is closed and drained."""
        ...

    def qsize(self) -> int:
        """How many items wait to be received."""
        ...


class Channel(Generic[T]):
    """A bounded single-producer, single-consumer queue with an overflow policy."""

    def __init__(
        self,
        name: str,
        maxsize: int,
        policy: Policy | str = Policy.BLOCK,
        clock: Clock | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("a channel needs room for at least one item")
        self.name = name
        self.clock: Clock = clock or MonotonicClock()
        """Lag is measured on it: the session's clock, which stamps ``origin_ns``."""
        self.maxsize = maxsize
        self.policy = Policy(policy)
        self.stats = EdgeStats()
        self._items: deque[T] = deque()
        self._closed = False
        self._item_waiters: list[asyncio.Future[None]] = []
        self._space_waiters: list[asyncio.Future[None]] = []

    # -- sending ---------------------------------------------------------------------
    async def send(self, item: T) -> None:
        """Put an item in, waiting only where the policy says the sender must."""
        while True:
            if self._closed:
                raise Closed(self.name)
            if self._try_put(item):
                return
            await self._wait(self._space_waiters)

    def send_nowait(self, item: T) -> None:
        """Put an item in without waiting; raise :class:`Full` where ``send`` would wait."""
        if self._closed:
            raise Closed(self.name)
        if not self._try_put(item):
            raise Full(self.name)

    def close(self) -> None:
        """End the stream: the receiver drains what is queued, then stops."""
        self._closed = True
        _wake(self._item_waiters)
        _wake(self._space_waiters)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def _try_put(self, item: T) -> bool:
        if self.policy is Policy.COALESCE and self._replace_same_id(item):
            self.stats.coalesced += 1
            return True
        if len(self._items) >= self.maxsize and not self._make_room():
            return False
        self._items.append(item)
        self.stats.sent += 1
        _wake(self._item_waiters)
        return True

    def _replace_same_id(self, item: T) -> bool:
        if not isinstance(item, Keyed):
            return False
        key = item.key
        for index, queued in enumerate(self._items):
            if isinstance(queued, Keyed) and queued.key == key and not queued.final:
                self._items[index] = item
                return True
        return False

    def _make_room(self) -> bool:
        if self.policy is Policy.DROP_OLDEST:
            self._items.popleft()
            self.stats.dropped += 1
            return True
        if self.policy is Policy.COALESCE:
            for index, queued in enumerate(self._items):
                if not (isinstance(queued, Keyed) and queued.final):
                    del self._items[index]
                    self.stats.dropped += 1
                    return True
        return False

    # -- receiving -------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            await self._wait(self._item_waiters)
        item = self._items.popleft()
        _wake(self._space_waiters)
        if isinstance(item, Timed) and item.origin_ns:
            self.stats.lags_s.append((self.clock.now_ns() - item.origin_ns) / 1e9)
        return item

    def qsize(self) -> int:
        """How many items wait to be received."""
        return len(self._items)

    @staticmethod
    async def _wait(waiters: list[asyncio.Future[None]]) -> None:
        future = asyncio.get_running_loop().create_future()
        waiters.append(future)
        try:
            await future
        finally:
            if future in waiters:
                waiters.remove(future)


class FanOut(Generic[T]):
    """A sender that delivers every item to several channels (one stage, many sinks)."""

    def __init__(self, targets: list[Channel[T]]) -> None:
        self.targets = targets

    async def send(self, item: T) -> None:
        """Send to each target in turn, each under its own policy."""
        for target in self.targets:
            if not target.closed:
                await target.send(item)

    def send_nowait(self, item: T) -> None:
        """Send to each target without waiting."""
        for target in self.targets:
            if not target.closed:
                target.send_nowait(item)

    def close(self) -> None:
        """Close every target."""
        for target in self.targets:
            target.close()


class Discard:
    """A sender that drops whatever it is given: the outbox of a sink."""

    async def send(self, item: object) -> None:
        """Drop the item."""

    def send_nowait(self, item: object) -> None:
        """Drop the item."""

    def close(self) -> None:
        """Nothing to close."""


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for future in waiters:
        if not future.done():
            future.set_result(None)
    waiters.clear()
