"""Helpers for driving one stage from tests and benchmarks.

Shipped with the package (as pipecat ships its test harness) so a stage author can
test a stage of their own the same way canvascap tests its own. Whole-pipeline helpers
that know canvascap's presets live in ``canvascap.testing``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from canvascap.pipeline.channel import Channel, Policy, Receiver, Sender
from canvascap.pipeline.stage import Clock, MonotonicClock, Stage
from canvascap.pipeline.types import Caption

__all__ = ["CaptionTap", "NoOptions", "Seen", "run_stage"]


class NoOptions(BaseModel):
    """The options of a stage that has none."""


async def run_stage(stage: Stage, inputs: Iterable[Any], outbox_size: int = 10_000) -> list[Any]:
    """Feed ``inputs`` through one stage (inbox closed after them) and collect its output."""
    items = list(inputs)
    inbox: Channel[Any] = Channel("test.inbox", max(1, len(items)), Policy.BLOCK)
    for item in items:
        inbox.send_nowait(item)
    inbox.close()
    outbox: Channel[Any] = Channel("test.outbox", outbox_size, Policy.BLOCK)
    await stage.prepare()
    try:
        await stage.run(inbox, outbox)
    finally:
        await stage.aclose()
    outbox.close()
    return [item async for item in outbox]


@dataclass(frozen=True, slots=True)
class Seen:
    """A caption revision and the time at which the sink received it."""

    caption: Caption
    at_ns: int


@dataclass
class CaptionTap:
    """A sink that records every revision it receives, with its arrival time."""

    Options: ClassVar[type[BaseModel]] = NoOptions
    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None
    name: str = "tap"
    seen: list[Seen] = field(default_factory=list)
    clock: Clock = field(default_factory=MonotonicClock)

    async def prepare(self) -> None:
        """Nothing to open."""

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Record each revision."""
        async for caption in inbox:
            self.seen.append(Seen(caption, self.clock.now_ns()))

    async def aclose(self) -> None:
        """Nothing to release."""

    @property
    def finals(self) -> list[Caption]:
        """Non-empty finals in arrival order."""
        return [s.caption for s in self.seen if s.caption.final and s.caption.text]
