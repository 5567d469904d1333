"""``sink.terminal``: live captions in the terminal.

On an interactive terminal the open partial is shown dimmed on a live line at the
bottom and replaced in place; each final is printed solid above it. When the output
is a file or a pipe only finals are printed, one line each, so it stays readable.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.live import Live
from rich.text import Text

from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption

__all__ = ["TerminalSink"]


class TerminalSink:
    """Prints captions: partial dimmed, final solid."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None

    class Options(BaseModel):
        """Options of ``sink.terminal``."""

        model_config = ConfigDict(extra="forbid")

        timestamps: bool = True
        """Prefix each final with its media time."""

    def __init__(self, options: Options, ctx: Context, console: Console | None = None) -> None:
        self.name = "terminal"
        self.options = options
        self.console = console or Console(file=sys.stdout, highlight=False, soft_wrap=True)

    async def prepare(self) -> None:
        """Nothing to open."""

    async def aclose(self) -> None:
        """Nothing to release."""

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Show each revision as it arrives."""
        if not self.console.is_terminal:
            async for caption in inbox:
                if caption.final and caption.text:
                    self.console.print(self._final_line(caption), markup=False)
            return
        partials: dict[tuple[int, str], Caption] = {}
        with Live(Text(""), console=self.console, auto_refresh=False, transient=True) as live:
            async for caption in inbox:
                if caption.final:
                    partials.pop(caption.key, None)
                    if caption.text:
                        live.console.print(self._final_line(caption))
                else:
                    partials[caption.key] = caption
                live.update(self._partial_block(partials), refresh=True)

    def _final_line(self, caption: Caption) -> Text:
        line = Text()
        translated = not caption.spoken
        if self.options.timestamps or translated:
            stamp = _clock(caption.start_s) if self.options.timestamps else ""
            tag = f"{stamp} {caption.lang}".strip() if translated else stamp
            line.append(f"[{tag}] ", style="magenta" if translated else "cyan")
        line.append(caption.text)
        return line

    def _partial_block(self, partials: dict[tuple[int, str], Caption]) -> Text:
        block = Text()
        for caption in partials.values():
            stable = caption.text[: caption.stable_chars]
            block.append(stable, style="dim")
            block.append(caption.text[caption.stable_chars :], style="dim italic")
            block.append("\n")
        return block


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
