"""``sink.terminal``: live captions in the terminal.

On an interactive terminal the open partial is shown dimmed on a live line at the
bottom and replaced in place; each final is printed solid above it. When the output
is a file or a pipe only finals are printed, one line each, so it stays readable.

The output is written by a thread of its own, never by the event loop: a terminal
paused with Ctrl-S, or a pipe nobody reads, holds up only that thread. Meanwhile finals
queue (the oldest are dropped, and counted, past ``max_backlog``) and partials coalesce
into the newest one per line, so when the output flows again it shows every final and
the current partial rather than a replay. An output that is gone for good (``canvascap
run | head``) ends the session as Ctrl-C does.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sys
import threading
from collections import deque
from typing import IO, Any, ClassVar, cast

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.live import Live
from rich.text import Text

from canvascap.captions.profanity import for_display
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption

__all__ = ["TerminalSink"]

FLUSH_WAIT_S = 2.0
"""How long the end of a session waits for a held-up output to take the last lines."""


class TerminalSink:
    """Prints captions: partial dimmed, final solid."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None

    class Options(BaseModel):
        """Options of ``sink.terminal``."""

        model_config = ConfigDict(extra="forbid")

        timestamps: bool = True
        """Prefix each final with its media time."""
        max_backlog: int = Field(10_000, ge=1)
        """Finals kept while the output is held up; older ones are dropped."""

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "terminal"
        self.options = options
        self.ctx = ctx
        self._display = for_display(ctx)
        self.console = _Console(
            file=cast(IO[str], _FdWriter(sys.stdout.fileno())), highlight=False, soft_wrap=True
        )
        self._screen = _Screen(options.max_backlog)
        self._writer = threading.Thread(target=self._write, name="terminal", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def prepare(self) -> None:
        """Nothing to open."""

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Hand each revision to the writer thread; never wait for the output."""
        self._loop = asyncio.get_running_loop()
        self._writer.start()
        try:
            async for caption in inbox:
                if caption.stand_in:  # the spoken line already shows these words
                    self._screen.forget(caption.key)
                    continue
                self._screen.show(self._display(caption))
        finally:
            self._screen.close()

    async def aclose(self) -> None:
        """Give the output a moment to take the last lines, then leave it."""
        if self._writer.is_alive():
            await asyncio.to_thread(self._writer.join, FLUSH_WAIT_S)
        if self._screen.dropped:
            self.ctx.metrics.count("terminal.finals_dropped", self._screen.dropped)

    # -- the writer thread -----------------------------------------------------------
    def _write(self) -> None:
        try:
            if self.console.is_terminal:
                self._write_live()
            else:
                while (batch := self._screen.take()) is not None:
                    for caption in batch[0]:
                        self.console.print(self._final_line(caption), markup=False)
        except OSError as error:  # the reader went away: a closed pipe or terminal
            self._screen.close()
            if self._loop is not None and not self._loop.is_closed():
                reason = f"the terminal output closed ({error.strerror or error})"
                self._loop.call_soon_threadsafe(self.ctx.request_stop, reason)

    def _write_live(self) -> None:
        with Live(
            Text(""),
            console=self.console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as live:
            while (batch := self._screen.take()) is not None:
                finals, partials = batch
                for caption in finals:
                    live.console.print(self._final_line(caption))
                live.update(self._partial_block(partials), refresh=True)

    def _final_line(self, caption: Caption) -> Text:
        line = Text()
        translated = not caption.spoken
        if self.options.timestamps or translated:
            stamp = _clock(caption.start_s) if self.options.timestamps else ""
            tag = f"{stamp} {caption.lang}".strip() if translated else stamp
            line.append(f"[{tag}] ", style="magenta" if translated else "cyan")
        if caption.speaker:
            line.append(f"{caption.speaker}: ", style="bold")
        line.append(caption.text)
        return line

    def _partial_block(self, partials: dict[tuple[int, str], Caption]) -> Text:
        block = Text()
        for caption in partials.values():
            if caption.speaker:
                block.append(f"{caption.speaker}: ", style="dim bold")
            stable = caption.text[: caption.stable_chars]
            block.append(stable, style="dim")
            block.append(caption.text[caption.stable_chars :], style="dim italic")
            block.append("\n")
        return block


class _Screen:
    """What the terminal should show next, shared by the event loop and the writer."""

    def __init__(self, max_backlog: int) -> None:
        self._changed = threading.Condition()
        self._finals: deque[Caption] = deque()
        self._partials: dict[tuple[int, str], Caption] = {}
        self._dirty = False
        self._closed = False
        self._max_backlog = max_backlog
        self.dropped = 0

    def show(self, caption: Caption) -> None:
        """Queue a final, or make a partial the newest of its line (event loop side)."""
        with self._changed:
            if caption.final:
                self._partials.pop(caption.key, None)
                if caption.text:
                    self._finals.append(caption)
                    if len(self._finals) > self._max_backlog:
                        self._finals.popleft()
                        self.dropped += 1
            else:
                self._partials[caption.key] = caption
            self._dirty = True
            self._changed.notify()

    def forget(self, key: tuple[int, str]) -> None:
        """Take a line's partial off the live line (its final is not shown here)."""
        with self._changed:
            if self._partials.pop(key, None) is not None:
                self._dirty = True
                self._changed.notify()

    def close(self) -> None:
        """No more captions: the writer ends once it has shown what is queued."""
        with self._changed:
            self._closed = True
            self._changed.notify()

    def take(self) -> tuple[list[Caption], dict[tuple[int, str], Caption]] | None:
        """Wait for a change; return the finals to print and the partials to show, or
        ``None`` when closed and everything is shown (writer side)."""
        with self._changed:
            while not self._dirty and not self._closed:
                self._changed.wait()
            if not self._dirty:
                return None
            finals = list(self._finals)
            self._finals.clear()
            self._dirty = False
            return finals, dict(self._partials)


class _Console(Console):
    """rich's console, except that a closed pipe is reported to the sink: rich's own
    handling exits the thread it happens in, which here would go unnoticed."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


class _FdWriter:
    """A text file over a raw descriptor: writes bypass ``sys.stdout``'s buffer, so a
    blocked output never holds a lock that the rest of the process (or its exit) needs."""

    encoding = "utf-8"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "replace")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def fileno(self) -> int:
        return self._fd


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
