"""The translate stage's memory of caption lines, kept apart from its I/O.

One record per caption id holds everything the stage knows of it: the final source
caption, when it became final, the settled words of its partials and their kept
translations, and per language the line's revision number, what is shown, whether it
is final and the confident draft shown so far. ``LineBook`` turns each decision into the
``Caption`` revision to send (or ``None`` when nothing new would be shown), keeps every
promise a revision made (a final starts with whatever a draft showed as stable), and
forgets captions long past as one record each. Synchronous and pure: tested without asyncio.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace

from canvascap.pipeline.types import Caption, Role
from canvascap.stages.translation.packing import Earlier, Job

__all__ = ["SETTLED_WORDS", "LineBook", "whole_words"]

SETTLED_WORDS = 3
"""A partial's settled words are translated once there are this many new ones."""
FORGET_AFTER = 500
"""Captions this many ids before the newest final are forgotten."""


@dataclass
class _Line:
    """One ``(id, lang)`` line as shown."""

    rev: int = -1
    shown: str | None = None
    final: bool = False
    draft: str = ""
    """The confident draft shown so far: a later draft must extend it."""
    kept: str | None = None
    """The pinned translation of the caption's settled words: later lines go on from it."""


@dataclass
class _Record:
    """Everything known of one caption id."""

    source: Caption | None = None
    """The recogniser's final, once it came."""
    final_at: float | None = None
    """When it became final here: translation lag runs from then."""
    settled: str = ""
    """The settled words of a partial whose translation is shown (pinned)."""
    settled_at: dict[str, float] = field(default_factory=dict)
    """When each settled start of a partial was first seen: the settled lag's start."""
    lines: dict[str, _Line] = field(default_factory=dict)


class LineBook:
    """What is shown of every caption line, and the revision each decision produces."""

    def __init__(self, targets: list[str], context_size: int) -> None:
        self.targets = targets
        self._records: OrderedDict[int, _Record] = OrderedDict()
        self._context: deque[tuple[int, str, int]] = deque(maxlen=context_size)
        """Finals by id, enough to give any request the ones just before its captions."""

    # -- recording -------------------------------------------------------------------
    def _record(self, cid: int) -> _Record:
        record = self._records.get(cid)
        if record is None:
            record = self._records[cid] = _Record()
        return record

    def _line(self, cid: int, lang: str) -> _Line:
        return self._record(cid).lines.setdefault(lang, _Line())

    def add_final(self, caption: Caption, now_s: float) -> None:
        """The recogniser's final of a caption with text: it is the source of its lines."""
        self.forget_before(caption.id - FORGET_AFTER)
        record = self._record(caption.id)
        record.source, record.final_at = caption, now_s
        self._context.append((caption.id, caption.text, caption.utterance))

    def forget_before(self, oldest_id: int) -> None:
        """Bound the memory of a long session: captions before ``oldest_id`` go."""
        for cid in [c for c in self._records if c < oldest_id]:
            del self._records[cid]

    def source(self, cid: int) -> Caption | None:
        """The recogniser's final of a caption, if it came (and is not forgotten)."""
        record = self._records.get(cid)
        return record.source if record is not None else None

    def lag_since_final(self, cid: int, now_s: float) -> float | None:
        """How long ago the caption became final here."""
        record = self._records.get(cid)
        if record is None or record.final_at is None:
            return None
        return now_s - record.final_at

    def shown_langs(self, cid: int) -> list[str]:
        """Languages in which something of the caption is shown."""
        record = self._records.get(cid)
        if record is None:
            return []
        return [lang for lang, line in record.lines.items() if line.shown is not None]

    def is_shown(self, cid: int, lang: str) -> bool:
        """Whether anything of this line is shown."""
        record = self._records.get(cid)
        line = record.lines.get(lang) if record is not None else None
        return line is not None and line.shown is not None

    def earlier(self, first: int, count: int) -> list[Earlier]:
        """The ``count`` finals just before caption ``first``, with their final lines."""
        if count <= 0:
            return []
        found = [
            Earlier(cid, text, utterance, self._final_lines(cid))
            for cid, text, utterance in self._context
            if cid < first
        ]
        return found[-count:]

    def _final_lines(self, cid: int) -> dict[str, str]:
        record = self._records.get(cid)
        if record is None:
            return {}
        return {
            lang: line.shown
            for lang, line in record.lines.items()
            if line.final and lang in self.targets and line.shown is not None
        }

    # -- revisions -------------------------------------------------------------------
    def forward(self, caption: Caption, final: bool) -> Caption | None:
        """The recogniser's caption to pass on, keeping its numbering and stable prefix;
        ``None`` once its line is final."""
        line = self._line(caption.id, caption.lang)
        if line.final:
            return None
        line.rev = max(line.rev + 1, caption.rev)
        line.shown = caption.text
        line.final = final
        return replace(caption, rev=line.rev, final=final)

    def revision(
        self,
        cid: int,
        lang: str,
        text: str,
        final: bool,
        like: Caption | None = None,
        stable_chars: int = 0,
        stand_in: bool = False,
    ) -> Caption | None:
        """The next revision of line ``(cid, lang)`` showing ``text``, modelled on
        ``like`` (else the caption's source); ``None`` when nothing would change.
        ``stand_in``: the text is the spoken words, shown while no translation is."""
        record = self._records.get(cid)
        line = record.lines.get(lang) if record is not None else None
        if line is not None and (line.final or (not final and line.shown == text)):
            return None
        source = like or (record.source if record is not None else None)
        if source is None:
            return None
        line = self._line(cid, lang)
        if final and line.draft and not text.startswith(line.draft):
            # Words shown as stable are never rewritten: when the final would (the line
            # was given up, or the model went elsewhere), they are the final.
            text, stand_in = line.draft, False
        line.rev += 1
        line.shown = text
        if final:
            line.final, line.draft = True, ""
        return replace(
            source,
            rev=line.rev,
            final=final,
            text=text,
            lang=lang,
            source=source.source,
            stable_chars=len(text) if final else stable_chars,
            words=source.words if lang == source.lang else (),
            # A translated piece is whole words; only the spoken text can run on.
            continues_word=source.continues_word and lang == source.lang,
            role=Role.CLEANED if lang == source.lang else Role.TRANSLATION,
            stand_in=stand_in,
        )

    def draft(
        self, cid: int, lang: str, text: str, like: Caption | None, confident: bool
    ) -> Caption | None:
        """A draft revision, or ``None`` when it must not be shown.

        A ``confident`` draft holds only tokens the model is sure of, so all of it is
        stable; a later draft that does not extend it is not shown (a shown prefix never
        goes back), and the final line settles it either way.
        """
        if not confident:
            return self.revision(cid, lang, text, False, like)
        line = self._line(cid, lang)
        if not text.startswith(line.draft):
            return None
        line.draft = text
        return self.revision(cid, lang, text, False, like, len(text))

    # -- settled words of partials ---------------------------------------------------
    def note_partial(self, partial: Caption, now_s: float) -> None:
        """When the partial's settled start was first seen (the settled lag's origin)."""
        settled = whole_words(partial.text, partial.stable_chars)
        self._record(partial.id).settled_at.setdefault(settled, now_s)

    def settled_job(self, partial: Caption) -> Job | None:
        """A job for the settled words of a partial, when they grew by a few words."""
        langs = [lang for lang in self.targets if lang != partial.lang]
        settled = whole_words(partial.text, partial.stable_chars)
        done = self._records[partial.id].settled if partial.id in self._records else ""
        grown = len(settled.split()) - len(done.split())
        if not langs or len(settled.split()) < SETTLED_WORDS or grown < SETTLED_WORDS:
            return None
        kept = self._kept_lines(partial.id) if done and settled.startswith(done) else {}
        return Job(partial.id, settled, partial.lang, langs, utterance=partial.utterance, kept=kept)

    def keep(self, cid: int, settled: str, lang: str, line: str) -> None:
        """The pinned translation of ``settled``: the caption's later lines go on from it."""
        record = self._record(cid)
        record.settled = settled
        self._line(cid, lang).kept = line

    def settled_lag(self, cid: int, settled: str, now_s: float) -> float | None:
        """How long ago these settled words were first seen."""
        record = self._records.get(cid)
        seen = record.settled_at.get(settled) if record is not None else None
        return None if seen is None else now_s - seen

    def kept_for(self, final: Caption) -> dict[str, str]:
        """The translations already shown for the settled start of this final, if its
        text still starts with the words they translate."""
        record = self._records.get(final.id)
        if record is None:
            return {}
        settled, record.settled, record.settled_at = record.settled, "", {}
        if not settled or not final.text.startswith(settled):
            return {}
        return self._kept_lines(final.id)

    def _kept_lines(self, cid: int) -> dict[str, str]:
        record = self._records.get(cid)
        if record is None:
            return {}
        return {lang: line.kept for lang, line in record.lines.items() if line.kept is not None}


def whole_words(text: str, stable_chars: int) -> str:
    """The settled start of a partial, cut back to whole words."""
    settled = text[:stable_chars]
    if stable_chars < len(text) and not text[stable_chars].isspace():
        settled = settled.rsplit(" ", 1)[0] if " " in settled else ""
    return settled.strip()
