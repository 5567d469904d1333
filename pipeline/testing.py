"""Helpers for driving stages and whole pipelines from tests and benchmarks.

Shipped with the package (as pipecat ships its test harness) so a stage author can
test a stage of their own the same way canvascap tests its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pipeline.channel import Channel, Policy, Receiver, Sender
from pipeline.config import PipelineConfig, file_source_overrides, load_config
from pipeline.runner import Pipeline
from pipeline.stage import Context, Stage
from pipeline.types import Caption

__all__ = ["CaptionTap", "Seen", "caption_file", "file_config", "run_stage"]


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
        closer = getattr(stage, "aclose", None)
        if closer is not None:
            await closer()
    outbox.close()
    return [item async for item in outbox]


@dataclass(frozen=True, slots=True)
class Seen:
    """A caption revision and the monotonic time at which the sink received it."""

    caption: Caption
    at_ns: int


@dataclass
class CaptionTap:
    """A sink that records every revision it receives, with its arrival time."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None
    name: str = "tap"
    seen: list[Seen] = field(default_factory=list)
    clock: Any = None

    async def prepare(self) -> None:
        """Nothing to open."""

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Record each revision."""
        import time

        now = self.clock.now_ns if self.clock else time.monotonic_ns
        async for caption in inbox:
            self.seen.append(Seen(caption, now()))

    @property
    def finals(self) -> list[Caption]:
        """Non-empty finals in arrival order."""
        return [s.caption for s in self.seen if s.caption.final and s.caption.text]


def file_config(
    path: str,
    realtime: bool,
    partials: bool = True,
    overrides: list[str] | None = None,
    config: str | None = None,
) -> PipelineConfig:
    """The default preset with a file source and no built-in sinks."""
    extra = [*file_source_overrides(path, realtime), "sinks={}"]
    if not partials:
        extra.append("vad.partial_every_ms=0")
    return load_config(config, extra + list(overrides or []))


async def caption_file(
    path: str,
    realtime: bool = False,
    partials: bool = True,
    overrides: list[str] | None = None,
    config: str | None = None,
) -> tuple[CaptionTap, Pipeline]:
    """Run a file through a preset (the default one unless named) and return what a sink saw."""
    tap = CaptionTap()
    pipeline = Pipeline.build(
        file_config(path, realtime, partials, overrides, config),
        Context(session="test"),
        extra_sinks={"tap": tap},
    )
    await pipeline.run()
    return tap, pipeline
