"""A sink that keeps finals in memory (for whole-file transcription), with progress."""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption, Role

__all__ = ["CollectSink"]


class CollectSink:
    """Collects the spoken finals; shows a progress bar on stderr when asked."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None

    class Options(BaseModel):
        """Options of the collecting sink."""

        model_config = ConfigDict(extra="forbid")

        progress: bool = False
        """Show a progress bar on stderr (against the source's media duration)."""

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "collect"
        self.options = options
        self.ctx = ctx
        self.finals: list[Caption] = []

    async def prepare(self) -> None:
        """Nothing to open."""

    async def aclose(self) -> None:
        """Nothing to release."""

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Keep each final; advance the bar to its end time."""
        columns = (
            TextColumn("transcribing"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
        )
        with Progress(
            *columns,
            console=Console(file=sys.stderr),
            disable=not self.options.progress,
            transient=True,
        ) as bar:
            task = bar.add_task("transcribe", total=self.ctx.report.media_duration_s)
            async for caption in inbox:
                if caption.final and caption.text and caption.role is Role.SPOKEN:
                    self.finals.append(caption)
                    bar.update(task, completed=caption.end_s)
