"""The contract every stage follows, and what the runner hands to it.

A stage is built as ``Factory(options, ctx)`` and then driven by the runner:

(a) ``prepare()`` loads models and opens devices before any audio flows, so a missing
    model or device fails before the session starts;
(b) ``run(inbox, outbox)`` loops with ``async for item in inbox`` and returns when the
    inbox ends; it never closes its own outbox (the runner does, in ``finally``);
(c) blocking work (model inference) runs in an executor thread, never on the loop;
(d) an exception that escapes ``run()`` is fatal for the whole pipeline; a failure that
    concerns one item is handled inside the stage, counted and degraded.

Sources ignore their inbox and sinks ignore their outbox.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pipeline.channel import Receiver, Sender
from pipeline.metrics import Metrics

__all__ = ["Clock", "Context", "MonotonicClock", "Stage"]


class Clock(Protocol):
    """Where stages read wall time from, so tests can inject their own."""

    def now_ns(self) -> int: ...


class MonotonicClock:
    """The real clock: ``time.monotonic_ns``, the same one channels measure lag with."""

    def now_ns(self) -> int:
        """Nanoseconds on the monotonic clock."""
        return time.monotonic_ns()


@dataclass
class Context:
    """What every stage of one session shares."""

    session: str
    clock: Clock = field(default_factory=MonotonicClock)
    metrics: Metrics = field(default_factory=Metrics)


class Stage(Protocol):
    """One step of the pipeline; see the module docstring for the contract."""

    name: str
    accepts: ClassVar[type | None]
    emits: ClassVar[type | None]

    async def prepare(self) -> None: ...

    async def run(self, inbox: Receiver[Any], outbox: Sender[Any]) -> None: ...
