"""``sink.transcript``: the session's transcript on disk.

Each final is appended to ``<session>.jsonl`` as one whole line and flushed at once,
so a crash or a power cut loses nothing already captioned. When the session ends -
normally, by Ctrl-C, or because a stage failed - ``<session>.srt`` and ``<session>.vtt``
are written from everything collected, each to a temporary file first, so a file on
disk is always whole.

A disk that fills up, or a folder that becomes unwritable, never ends the session:
the sink is marked degraded (one warning, ``/healthz`` and the control page), lines
that could not be written wait in memory, a line cut short is truncated away, and
writing resumes with the next final once it can. A session name that is already used
gets a numbered suffix instead of mixing two sessions in one file (``overwrite``
replaces them).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

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
        overwrite: bool = False
        """Replace the files of an earlier session of the same name (``--overwrite``)
        instead of writing ``<session>-2.*``."""
        max_unwritten: int = Field(10_000, ge=1)
        """Finals kept in memory while the disk refuses them; older ones are dropped."""

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "transcript"
        self.options = options
        self.ctx = ctx
        self.base = Path(options.out_dir) / ctx.session
        self.finals: dict[tuple[int, str], Caption] = {}
        self._unwritten: deque[bytes] = deque()
        self._fd: int | None = None
        self._good_size = 0
        """Bytes of the JSON-lines file that hold whole lines."""
        self._started = False
        self._closed = False

    async def prepare(self) -> None:
        """Create the output folder and choose the file names, so a bad ``--out`` fails
        before audio flows."""
        folder = self.base.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as error:
            raise UserError(
                f"cannot write transcripts to {folder}: {error.strerror}; "
                "choose another folder with --out"
            ) from None
        if self.options.overwrite:
            for path in self._session_files(self.base.name):
                path.unlink()
            return
        stem, number = self.base.name, 1
        while self._session_files(stem):
            number += 1
            stem = f"{self.base.name}-{number}"
        if number > 1:
            log.warning(
                "a session named %s is already in %s; this one is written as %s "
                "(--overwrite replaces it instead)",
                self.base.name,
                folder,
                stem,
            )
            self.base = folder / stem

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Append each non-empty final as it arrives."""
        self._started = True
        async for caption in inbox:
            if not caption.final or not caption.text:
                continue
            self.finals[caption.key] = caption
            record = json.dumps(caption_record(caption), ensure_ascii=False) + "\n"
            self._unwritten.append(record.encode("utf-8"))
            if len(self._unwritten) > self.options.max_unwritten:
                self._unwritten.popleft()
                self.ctx.metrics.count("transcript.finals_dropped")
            self._write_lines()

    async def aclose(self) -> None:
        """Write what is left, close the JSON lines and write the subtitle files (once)."""
        if self._closed or not self._started:
            return
        self._closed = True
        self._write_lines()
        if self._unwritten:
            log.warning(
                "%d final(s) could not be written to %s",
                len(self._unwritten),
                self.base.with_suffix(".jsonl"),
            )
        if self._fd is not None:
            os.close(self._fd)
        by_language: dict[str, list[Caption]] = {"": []}
        for caption in self.finals.values():
            by_language.setdefault("" if caption.spoken else caption.lang, []).append(caption)
        for lang, finals in by_language.items():
            stem = self.base.name + (f".{lang}" if lang else "")
            for wanted, suffix, render in (
                (self.options.srt, "srt", to_srt),
                (self.options.vtt, "vtt", to_vtt),
            ):
                if wanted:
                    self._write_whole(self.base.parent / f"{stem}.{suffix}", render(finals))

    # -- writing -----------------------------------------------------------------------
    def _write_lines(self) -> None:
        """Append the waiting lines; on a failure keep them and cut any partial line."""
        path = self.base.with_suffix(".jsonl")
        try:
            if self._fd is None:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._good_size = os.fstat(self._fd).st_size
                self.ctx.report.add_file(path)
            while self._unwritten:
                line = self._unwritten[0]
                written = os.write(self._fd, line)
                if written != len(line):
                    raise OSError(28, "No space left on device")
                self._good_size += written
                self._unwritten.popleft()
        except OSError as error:
            self._cut_partial_line()
            if self.ctx.metrics.degrade(self.name, f"cannot write {path.name}: {error.strerror}"):
                log.warning(
                    "cannot write %s (%s); captions go on, and writing resumes when it can",
                    path,
                    error.strerror or error,
                )
            return
        if self.ctx.metrics.recover(self.name):
            log.warning("writing %s again; nothing was lost", path)

    def _cut_partial_line(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._good_size)
        except OSError:
            os.close(self._fd)  # reopened, and its whole lines counted, on the next try
            self._fd = None

    def _write_whole(self, path: Path, text: str) -> None:
        """Write a file through a temporary one, so no half-written file is left."""
        partial = path.with_name(f".{path.name}.partial")
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            self.ctx.metrics.degrade(self.name, f"cannot write {path.name}: {error.strerror}")
            log.warning("cannot write %s (%s)", path, error.strerror or error)
            return
        self.ctx.report.add_file(path)

    def _session_files(self, stem: str) -> list[Path]:
        """Files an earlier session named ``stem`` left in the output folder: its JSON
        lines and subtitles, per-language ones included, and nothing of a session whose
        name merely starts the same way."""
        own = re.compile(
            re.escape(stem) + r"(\.jsonl|(\.[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4})?)?\.(srt|vtt))"
        )
        return [path for path in self.base.parent.glob(f"{stem}.*") if own.fullmatch(path.name)]
