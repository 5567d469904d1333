"""The contract every stage follows, and what the runner hands to it.

A stage class is registered by name (see ``canvascap.pipeline.registry``), built as
``StageClass(options, ctx)`` with its options validated by ``StageClass.Options``, and
then driven by the runner:

(a) ``prepare()`` loads models and opens devices before any audio flows, so a missing
    model or device fails before the session starts;
(b) ``run(inbox, outbox)`` loops with ``async for item in inbox`` and returns when the
    inbox ends; it never closes its own outbox (the runner does, in ``finally``);
(c) blocking work (model inference) runs in an executor thread, never on the loop;
(d) an exception that escapes ``run()`` is fatal for the whole pipeline; a failure that
    concerns one item is handled inside the stage, counted and degraded;
(e) ``aclose()`` releases what ``prepare()`` or ``run()`` opened; the runner calls it
    once, after ``run()`` ends or when ``prepare()`` of any stage failed;
(f) what a stage wants the application to know (a URL, a file it wrote, how long the
    media is) it writes into ``ctx.report``; nothing reads a stage's attributes.

Sources ignore their inbox (``accepts = None``) and sinks their outbox (``emits = None``).
Stages read time from ``ctx.clock`` and wait with asyncio, so tests can run them on a
virtual-time loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.clock import Clock, LoopClock, MonotonicClock
from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.services import Services

__all__ = [
    "Clock",
    "Context",
    "LoopClock",
    "MonotonicClock",
    "Services",
    "SessionReport",
    "Stage",
    "StageClass",
]


@dataclass
class SessionReport:
    """What stages make known about a running session, for the application to show."""

    urls: dict[str, str] = field(default_factory=dict)
    """Addresses a person or tool can open, by name (``overlay``, ``control``, ``feed``)."""
    files: list[Path] = field(default_factory=list)
    """Files the session wrote, in the order they were first written."""
    media_duration_s: float | None = None
    """Length of the input, when the source knows it (files)."""
    audio_started_ns: int | None = None
    """When the source delivered its first audio, on the context's clock: media time 0."""

    def add_file(self, path: Path) -> None:
        """Note a file the session wrote (once)."""
        if path not in self.files:
            self.files.append(path)


@dataclass
class Context:
    """What every stage of one session shares."""

    session: str
    clock: Clock = field(default_factory=MonotonicClock)
    metrics: Metrics = field(default_factory=Metrics)
    report: SessionReport = field(default_factory=SessionReport)
    on_stop_request: Callable[[str], None] | None = None
    """Set by the runner: ends the session gracefully, as a first Ctrl-C does."""
    services: Services = field(default_factory=Services)
    """What the application built for stages and the web server to share (see
    ``canvascap.pipeline.services``)."""

    def request_stop(self, reason: str) -> None:
        """Ask for a graceful end of the session (e.g. the terminal went away)."""
        if self.on_stop_request is not None:
            self.on_stop_request(reason)


@runtime_checkable
class Stage(Protocol):
    """One step of the pipeline; see the module docstring for the contract."""

    @property
    def Options(self) -> type[BaseModel]:  # noqa: N802 - it names a class
        """The pydantic model of the stage's options (``extra="forbid"``)."""
        ...

    accepts: ClassVar[type | None]
    """The message type the stage reads; ``None`` for sources."""
    emits: ClassVar[type | None]
    """The message type the stage writes; ``None`` for sinks."""
    name: str
    """The stage's name in the config (set by the runner)."""

    async def prepare(self) -> None:
        """Load models, open devices and servers: before any audio flows."""
        ...

    async def run(self, inbox: Receiver[Any], outbox: Sender[Any]) -> None:
        """Process the inbox until it ends, writing to the outbox."""
        ...

    async def aclose(self) -> None:
        """Release what ``prepare`` and ``run`` opened; called once."""
        ...


class StageClass(Protocol):
    """What a registered name resolves to: built as ``StageClass(options, ctx)``."""

    @property
    def Options(self) -> type[BaseModel]:  # noqa: N802 - it names a class
        """The pydantic model of the stage's options."""
        ...

    def __call__(self, options: Any, ctx: Context) -> Stage:
        """Build the stage with its validated options and the session's context."""
        ...
