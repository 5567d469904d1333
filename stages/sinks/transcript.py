"""``sink.transcript``: the session's transcript on disk, written as it happens.

Each final is appended to ``<session>.jsonl`` as one whole line, at once. Subtitles are
written while the session runs too: ``<session>.srt`` and ``<session>.vtt`` for the
spoken words, ``<session>.<lang>.srt``/``.vtt`` for each translation. An utterance's
cues are appended once the next utterance begins (its start bounds how long the last
cue may stay; ``canvascap.captions.subtitles.CueStream``), and the last ones when the
session ends. So after a crash, or ``kill -9``, every file parses and holds every cue
before the last final; ``canvascap transcript convert`` rebuilds subtitles from the
JSON lines of any session.

A disk that fills up, or a folder that becomes unwritable, never ends the session:
the sink is marked degraded (one warning, ``/healthz`` and the control page), what
could not be written waits in memory, a cut-off line or cue is truncated away, and
writing resumes once it can. A session name that is already used gets a numbered
suffix instead of mixing two sessions in one file (``overwrite`` replaces them).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter, deque
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from canvascap.captions.formats import VTT_HEADER, caption_record, srt_cue, vtt_cue
from canvascap.captions.profanity import for_display
from canvascap.captions.subtitles import Cue, CueStream
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption

__all__ = ["TranscriptSink"]

log = logging.getLogger(__name__)


class TranscriptSink:
    """Writes finals as JSON lines and subtitle cues while the session runs."""

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
        """Lines and cues kept in memory while the disk refuses them; older ones are
        dropped."""

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "transcript"
        self.options = options
        self.ctx = ctx
        self._display = for_display(ctx)
        self.base = Path(options.out_dir) / ctx.session
        self._files: dict[Path, _AppendFile] = {}
        self._tracks: dict[str, _Track] = {}
        self._untranslated: Counter[str] = Counter()
        """Finals per language that came untranslated (stand-ins), left out of subtitles."""
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
        """Append each non-empty final, and the subtitle cues it settles."""
        self._started = True
        async for caption in inbox:
            if not caption.final or not caption.text:
                continue
            record = json.dumps(caption_record(caption), ensure_ascii=False) + "\n"
            self._append(self.base.with_suffix(".jsonl"), record)
            if caption.stand_in:  # a language's subtitles hold only its translations
                self._untranslated[caption.lang] += 1
                self.ctx.metrics.count(f"transcript.untranslated.{caption.lang}")
                continue
            track = self._track("" if caption.spoken else caption.lang)
            self._write_cues(track, track.cues.add(self._display(caption)))

    async def aclose(self) -> None:
        """Write the last cues and whatever waits, then close the files (once)."""
        if self._closed or not self._started:
            return
        self._closed = True
        self._track("")  # the spoken subtitles exist even for a session without speech
        for track in self._tracks.values():
            self._write_cues(track, track.cues.flush())
        for lang, count in sorted(self._untranslated.items()):
            log.warning(
                "%d caption(s) were never translated into %s: left out of its subtitles "
                "(the .jsonl transcript has them, marked stand_in)",
                count,
                lang,
            )
        unwritten = 0
        for file in self._files.values():
            file.close()
            unwritten += len(file.unwritten)
        if unwritten:
            log.warning("%d line(s) or cue(s) of the transcript could not be written", unwritten)

    # -- files -------------------------------------------------------------------------
    def _track(self, lang: str) -> _Track:
        """The subtitles of one line: the spoken one (``""``) or a translation."""
        if lang not in self._tracks:
            stem = self.base.name + (f".{lang}" if lang else "")
            self._tracks[lang] = _Track(stem)
            if self.options.vtt:
                self._append(self.base.parent / f"{stem}.vtt", VTT_HEADER)
        return self._tracks[lang]

    def _write_cues(self, track: _Track, cues: list[Cue]) -> None:
        folder = self.base.parent
        for cue in cues:
            track.numbered += 1
            if self.options.srt:
                self._append(folder / f"{track.stem}.srt", srt_cue(track.numbered, cue))
            if self.options.vtt:
                self._append(folder / f"{track.stem}.vtt", vtt_cue(cue))

    def _append(self, path: Path, text: str) -> None:
        file = self._files.get(path)
        if file is None:
            file = self._files[path] = _AppendFile(path, self.options.max_unwritten)
            self.ctx.report.add_file(path)
        if len(file.unwritten) == file.unwritten.maxlen:
            self.ctx.metrics.count("transcript.dropped")  # the oldest waiting piece goes
        problem = file.append(text.encode("utf-8"))
        if problem is not None:
            self.ctx.metrics.count("transcript.write_errors")
            if self.ctx.metrics.degrade(self.name, f"cannot write {path.name}: {problem}"):
                log.warning(
                    "cannot write %s (%s); captions go on, and writing resumes when it can",
                    path,
                    problem,
                )
        elif not any(f.unwritten for f in self._files.values()):
            if self.ctx.metrics.recover(self.name):
                log.warning("writing the transcript again; nothing was lost")

    def _session_files(self, stem: str) -> list[Path]:
        """Files an earlier session named ``stem`` left in the output folder: its JSON
        lines and subtitles, per-language ones included, and nothing of a session whose
        name merely starts the same way."""
        own = re.compile(
            re.escape(stem) + r"(\.jsonl|(\.[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4})?)?\.(srt|vtt))"
        )
        return [path for path in self.base.parent.glob(f"{stem}.*") if own.fullmatch(path.name)]


class _Track:
    """The subtitle files of one line (spoken, or one translation) and their cues."""

    def __init__(self, stem: str) -> None:
        self.stem = stem
        self.cues = CueStream()
        self.numbered = 0
        """SRT cues written so far."""


class _AppendFile:
    """A file that only ever gets whole pieces (a JSON line, a cue) appended.

    A piece the disk refuses waits, with the ones after it, for the next try; a piece
    cut short by a full disk is truncated away, so the file always ends whole.
    """

    def __init__(self, path: Path, max_unwritten: int) -> None:
        self.path = path
        self.unwritten: deque[bytes] = deque(maxlen=max_unwritten)
        self._fd: int | None = None
        self._whole_size = 0

    def append(self, piece: bytes) -> str | None:
        """Queue ``piece`` and write what waits; return why writing failed, or ``None``."""
        self.unwritten.append(piece)
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                self._whole_size = os.fstat(self._fd).st_size
            while self.unwritten:
                data = self.unwritten[0]
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(28, "No space left on device")
                self._whole_size += written
                self.unwritten.popleft()
        except OSError as error:
            self._cut_partial_piece()
            return str(error.strerror or error)
        return None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _cut_partial_piece(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._whole_size)
        except OSError:
            self.close()  # reopened, and its whole size read again, on the next try
