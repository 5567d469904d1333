"""``sink.transcript``: the session's transcript on disk.

Each final is appended to ``<session>.jsonl`` and flushed at once, so a crash or a
power cut loses nothing already captioned. When the session ends - normally, by
Ctrl-C, or because a stage failed - ``<session>.srt`` and ``<session>.vtt`` are written
from everything collected.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.formats import caption_record, to_srt, to_vtt
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption

__all__ = ["TranscriptSink"]

log = logging.getLogger(__name__)


class TranscriptSink:
    """Writes finals as JSON lines while running, and SRT/VTT when the session ends.

    Subtitles of the spoken words go to ``<session>.srt``/``.vtt``; each translation
    language gets its own ``<session>.<lang>.srt``/``.vtt``.
    """

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None

    class Options(BaseModel):
        """Options of ``sink.transcript``."""

        model_config = ConfigDict(extra="forbid")

        out_dir: str = "transcripts"
        srt: bool = True
        vtt: bool = True

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "transcript"
        self.options = options
        self.ctx = ctx
        self.base = Path(options.out_dir) / ctx.session
        self.finals: dict[tuple[int, str], Caption] = {}
        self._jsonl: IO[str] | None = None
        self._started = False
        self._closed = False

    async def prepare(self) -> None:
        """Create the output folder, so a bad ``--out`` fails before audio flows."""
        try:
            self.base.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(self.base.parent, os.W_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as error:
            raise UserError(
                f"cannot write transcripts to {self.base.parent}: {error.strerror}; "
                "choose another folder with --out"
            ) from None

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Append each non-empty final as it arrives."""
        path = self.base.with_suffix(".jsonl")
        jsonl = self._jsonl = path.open("a", encoding="utf-8")
        self.ctx.report.add_file(path)
        self._started = True
        async for caption in inbox:
            if not caption.final or not caption.text:
                continue
            self.finals[caption.key] = caption
            jsonl.write(json.dumps(caption_record(caption), ensure_ascii=False) + "\n")
            jsonl.flush()

    async def aclose(self) -> None:
        """Close the JSON lines and write the subtitle files (once)."""
        if self._closed or not self._started:
            return
        self._closed = True
        if self._jsonl is not None:
            self._jsonl.close()
        by_language: dict[str, list[Caption]] = {}
        for caption in self.finals.values():
            by_language.setdefault("" if caption.spoken else caption.lang, []).append(caption)
        by_language.setdefault("", [])
        for lang, finals in by_language.items():
            stem = self.base.name + (f".{lang}" if lang else "")
            for wanted, suffix, render in (
                (self.options.srt, "srt", to_srt),
                (self.options.vtt, "vtt", to_vtt),
            ):
                if wanted:
                    path = self.base.parent / f"{stem}.{suffix}"
                    path.write_text(render(finals), encoding="utf-8")
                    self.ctx.report.add_file(path)
