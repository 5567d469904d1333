"""From decoded snapshots to caption revisions: the commit policy, applied per utterance.

Each utterance being spoken has a ``LiveLine``: its settled words (``commit.StablePrefix``),
the caption now shown for it, and the words already sent as finals (``commit_finals``).
``UtteranceCaptioner`` turns one decoded snapshot into the revisions it produces: a
partial whose settled words stay still, with ``commit_finals`` a final of the committed
words and a partial of the rest, or the utterance's final. It numbers captions, and keeps
the tail of recent finals as the next prompt. Pure: no model, no asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.types import Caption, Utterance, Word
from canvascap.stages.recognition.commit import Hypothesis, StablePrefix, joined
from canvascap.stages.recognition.gate import Transcript
from canvascap.stages.recognition.options import AsrOptions

__all__ = ["LiveLine", "UtteranceCaptioner"]

HISTORY_CHARS = 1000
"""Recent final text kept for the prompt (``prompt_chars`` takes its tail)."""


@dataclass
class LiveLine:
    """One utterance while it is being captioned: its settled words and what is shown."""

    prefix: StablePrefix
    caption_id: int = -1
    """The caption now shown for the utterance (-1: the next revision opens one)."""
    rev: int = 0
    emitted: int = 0
    """Committed words already sent as finals (commit_finals)."""
    emitted_end_s: float | None = None
    shown_rest: list[str] = field(default_factory=list)
    """The words of the last partial shown after those sent as finals."""
    glued: frozenset[int] = frozenset()
    """Positions of words that continue the word before them (no space between)."""
    lang: str | None = None
    shown: bool = False
    speaker: str = ""
    """Who is speaking, as far as the partials tell."""
    labelled_s: float = 0.0
    """How much audio the utterance had when ``speaker`` was decided."""


class UtteranceCaptioner:
    """Caption revisions for every utterance of one session."""

    def __init__(self, options: AsrOptions, metrics: Metrics) -> None:
        self.options = options
        self.metrics = metrics
        self._lines: dict[int, LiveLine] = {}
        self._next_id = 0
        self.history = ""
        """Recent final text, for the prompt."""

    def open(self, utterance: Utterance) -> LiveLine:
        """The line of ``utterance``; a final's line is closed as it is handed out."""
        line = self._lines.setdefault(
            utterance.id, LiveLine(StablePrefix(self.options.commit_rule))
        )
        if utterance.final:
            del self._lines[utterance.id]
        return line

    def live(self, utterance_id: int) -> LiveLine | None:
        """The line of an utterance still being spoken."""
        return self._lines.get(utterance_id)

    def new_id(self) -> int:
        """A caption id no revision has used."""
        self._next_id += 1
        return self._next_id - 1

    def forced_words(self, utterance: Utterance, line: LiveLine) -> str:
        """What the decode must start with. Partials keep the committed words; a final is
        decoded freely with the larger beam, which is both more accurate and gives every
        word a timestamp - except for words already sent as finals, which it keeps too."""
        return joined(self._kept(utterance, line), line.glued)

    def _kept(self, utterance: Utterance, line: LiveLine) -> list[str]:
        committed = line.prefix.words
        return (
            committed if self.options.commit and not utterance.final else committed[: line.emitted]
        )

    def retraction(self, utterance: Utterance, line: LiveLine, lang: str) -> list[Caption]:
        """A rejected snapshot: a final whose partials were shown retracts them."""
        if utterance.final and line.shown:
            return [self._caption(utterance, line, "", lang, 0, ())]
        return []

    def captions(self, utterance: Utterance, line: LiveLine, result: Transcript) -> list[Caption]:
        """The revisions an accepted snapshot produces (none, one, or a committed final
        and the rest)."""
        kept = self._kept(utterance, line)
        hypothesis, cut = Hypothesis.after_prefix(
            result.text, kept, line.glued, result.word_confidence
        ).cut_repeat(len(kept))
        if cut:
            # Whisper said the same words over again: keep them once.
            self.metrics.count("asr.repeats_cut")
            result = replace(result, words=result.words[: max(0, len(result.words) - cut)])
        out: list[Caption] = []
        stable_words = 0
        if utterance.final:
            self.history = (self.history + " " + hypothesis.text()).strip()[-HISTORY_CHARS:]
        elif self.options.commit:
            stable_words, piece = self._commit(utterance, line, hypothesis, result.lang)
            out += piece
        caption = self._rest(utterance, line, hypothesis, result, stable_words)
        return out if caption is None else [*out, caption]

    def _commit(
        self, utterance: Utterance, line: LiveLine, hypothesis: Hypothesis, lang: str
    ) -> tuple[int, list[Caption]]:
        """Settle what this partial agrees on; with commit_finals, send it as a final."""
        agreement = line.prefix.update(hypothesis.words, hypothesis.confidence)
        if agreement.passed_doubt:
            self.metrics.count("asr.doubts_passed")
        line.glued = hypothesis.glued
        committed = len(agreement.committed)
        ready = committed - line.emitted
        if self.options.commit_finals and ready >= self.options.commit_min_words:
            return committed, [self._commit_final(utterance, line, len(hypothesis.words), lang)]
        return committed, []

    def _rest(
        self,
        utterance: Utterance,
        line: LiveLine,
        hypothesis: Hypothesis,
        result: Transcript,
        stable_words: int,
    ) -> Caption | None:
        """The revision of the caption that shows the words not yet sent as finals."""
        words, glued = hypothesis.words, hypothesis.glued
        rest = words[line.emitted :]
        if utterance.final and line.emitted and len(rest) < len(line.shown_rest) / 2:
            # Forced to continue after the words already sent, Whisper sometimes stops
            # at once; the last partial then says more than the final would.
            self.metrics.count("asr.final_from_partial")
            rest, glued = line.shown_rest, line.glued
        line.shown_rest, line.glued = rest, glued
        if utterance.final and not rest and not line.shown:
            return None
        shown = [*words[: line.emitted], *rest]
        text = joined(shown, glued, start=line.emitted)
        stable = len(shown) if utterance.final else stable_words
        stable_chars = len(joined(shown[:stable], glued, start=line.emitted))
        timed = result.words[-len(rest) :] if rest and line.emitted else result.words
        caption = self._caption(utterance, line, text, result.lang, stable_chars, timed)
        if line.emitted_end_s is not None:
            caption = replace(caption, start_s=line.emitted_end_s)
        return caption

    def _commit_final(self, utterance: Utterance, line: LiveLine, heard: int, lang: str) -> Caption:
        """Send the committed words not yet sent as a final of their own."""
        committed = line.prefix.words
        span = utterance.end_s - utterance.start_s
        start = line.emitted_end_s if line.emitted_end_s is not None else utterance.start_s
        end = utterance.start_s + span * len(committed) / max(heard, 1)
        text = joined(committed, line.glued, start=line.emitted)
        caption = replace(
            self._caption(utterance, line, text, lang, len(text), ()),
            final=True,
            start_s=start,
            end_s=max(end, start),
        )
        line.emitted = len(committed)
        line.emitted_end_s = caption.end_s
        line.caption_id, line.rev, line.shown = -1, 0, False  # the rest: a new line
        self.metrics.count("asr.commit_finals")
        return caption

    def _caption(
        self,
        utterance: Utterance,
        line: LiveLine,
        text: str,
        lang: str,
        stable_chars: int,
        words: tuple[Word, ...],
    ) -> Caption:
        if line.caption_id < 0:
            line.caption_id = self.new_id()
        caption = Caption(
            id=line.caption_id,
            rev=line.rev,
            final=utterance.final,
            source=text,
            text=text,
            lang=lang,
            start_s=utterance.start_s,
            end_s=utterance.end_s,
            origin_ns=utterance.origin_ns,
            stable_chars=stable_chars,
            utterance=utterance.id,
            continues_word=0 < line.emitted and line.emitted in line.glued,
            words=tuple(
                Word(
                    w.text,
                    utterance.start_s + w.start_s,
                    utterance.start_s + w.end_s,
                    w.probability,
                )
                for w in words
            ),
        )
        line.rev += 1
        line.shown = True
        return caption
