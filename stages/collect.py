"""A sink that keeps finals in memory (for whole-file transcription), with progress."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, ClassVar

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from pipeline.channel import Receiver, Sender
from pipeline.types import Caption

__all__ = ["CollectSink"]


class CollectSink:
    """Collects non-empty finals; shows a progress bar on stderr when asked."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None

    def __init__(self, progress: bool = False) -> None:
        self.name = "collect"
        self.finals: list[Caption] = []
        self.show_progress = progress
        self.duration_s: Callable[[], float | None] = lambda: None

    async def prepare(self) -> None:
        """Nothing to open."""

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Keep each final; advance the bar to its end time."""
        from rich.console import Console

        columns = (
            TextColumn("transcribing"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
        )
        with Progress(
            *columns,
            console=Console(file=sys.stderr),
            disable=not self.show_progress,
            transient=True,
        ) as bar:
            task = bar.add_task("transcribe", total=self.duration_s() or None)
            async for caption in inbox:
                if caption.final and caption.text:
                    self.finals.append(caption)
                    bar.update(task, completed=caption.end_s)
