"""Streaming speech recognition: partial captions while a person speaks, one final after.

The stage turns each ``Utterance`` snapshot into a ``Caption`` revision through a
``Transcriber`` (the faster-whisper adapter lives in ``asr_faster_whisper``). Three
policies live here, free of any model library:

* **Stable prefix (LocalAgreement-2).** Words on which two successive partial hypotheses
  agree are committed and never change afterwards; later decodes are forced to start
  with them, so words already on screen do not flicker. ``Caption.stable_chars`` tells
  displays where the committed text ends.
* **Speech gate.** Nothing is shown for silence, noise or music. Whisper invents short
  captions on such audio, and no single signal is enough, so a caption must pass a
  speech-duration check (Silero), Whisper's no-speech probability together with its
  average log-probability, the compression ratio, and a check of the text's shape.
  When partials were shown and the final fails the gate, an empty final retracts them.
* **Prompt carry-over.** The tail of recent finals is passed as the prompt, so names
  and spelling stay consistent across utterances.

Inference runs in one worker thread per stage; the inbox coalesces snapshots, so a
slow model always works on the newest audio and never on a backlog.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.channel import Receiver, Sender
from pipeline.stage import Context
from pipeline.types import Caption, Utterance, Word

__all__ = [
    "AsrOptions",
    "AsrStage",
    "GateOptions",
    "Transcriber",
    "Transcript",
    "common_word_prefix",
    "rejection_reason",
    "repeat_start",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a transcriber heard in one snapshot, with the signals the gate needs."""

    text: str
    lang: str
    words: tuple[Word, ...] = ()
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 1.0
    speech_s: float = float("inf")
    """Seconds of the snapshot that a neural speech detector called speech."""
    word_probability: float = 1.0
    """Mean probability of the words, when the transcriber times words (finals)."""
    word_confidence: tuple[float, ...] = ()
    """Probability of each word of ``text`` (that of its least likely token), when the
    transcriber can tell (greedy partials); empty otherwise."""


class Transcriber(Protocol):
    """A speech recogniser that works on one snapshot at a time (blocking)."""

    def transcribe(
        self, audio: np.ndarray, *, prompt: str, prefix: str, final: bool, language: str | None
    ) -> Transcript: ...


class GateOptions(BaseModel):
    """Thresholds of the speech gate; see ``rejection_reason``."""

    model_config = ConfigDict(extra="forbid")

    min_speech_s: float = Field(0.3, ge=0)
    no_speech_prob: float = Field(0.45, ge=0, le=1)
    """Reject when no-speech probability is above this *and* log-probability below ..."""
    logprob_with_no_speech: float = -0.6
    """... this (the pair Whisper itself uses, set stricter)."""
    min_avg_logprob: float = -1.2
    """Reject below this whatever the no-speech probability says."""
    max_compression_ratio: float = Field(2.4, gt=0)
    """Above this the text is a repetition loop, not speech."""
    short_text_speech_s: float = 1.2
    """Lone interjections and 'thank you' style filler pass only with this much speech ..."""
    short_text_word_probability: float = 0.7
    """... and this mean word probability (invented filler has one near-zero word) ..."""
    short_text_logprob: float = -0.7
    """... and this average log-probability: without word timestamps it is the sign
    left of an invented "Thank you." (-0.97 on music; -0.2 for a spoken "Thank you.",
    -0.57 for "Okay.")."""
    min_word_probability: float = 0.3
    """Reject when the words' mean probability is below this."""


class AsrOptions(BaseModel):
    """Options shared by every recogniser stage."""

    model_config = ConfigDict(extra="forbid")

    language: str = "en"
    """A language code, or ``auto`` to detect it per utterance."""
    prompt_chars: int = Field(0, ge=0)
    """How much recent final text to pass as the prompt. Off by default: with small
    models the carried text makes Whisper append sign-offs ("Thank you very much.")."""
    commit: bool = True
    """Use the stable-prefix rule: words two partials agree on stay fixed on screen."""
    commit_finals: bool = False
    """Also send committed words as finals while the person is still speaking, so a
    word is final about a second after it is said instead of at the end of the
    sentence. Finals then come in shorter pieces decoded by the partial beam."""
    commit_min_words: int = Field(3, ge=1)
    """Committed words to gather before sending them as a final (with commit_finals)."""
    commit_confidence: float = Field(0.0, ge=0, le=1)
    """Commit a word only if the recogniser gave it at least this probability; a doubtful
    word and the words after it wait for a surer partial (or the final). Two partials
    agree on a wrong word mostly when the model was unsure of it."""
    commit_sure: float = Field(0.0, ge=0, le=1)
    """Commit a word the recogniser gave at least this probability after one partial,
    without waiting for the next to agree (never the last word heard, which may be cut
    off). 0 turns this off."""
    commit_past_doubt: int = Field(0, ge=0)
    """Commit a doubtful word that two partials agree on when this many agreed words
    after it are all sure (commit_sure). Whisper often doubts the first word of a
    sentence (how to spell it: "Unless" or "unless") while sure of the words after it,
    and the whole sentence would otherwise wait behind it. 0 turns this off."""
    gate: GateOptions = GateOptions()

    @model_validator(mode="after")
    def _past_doubt_needs_sure(self) -> AsrOptions:
        if self.commit_past_doubt and not self.commit_sure:
            raise ValueError(
                "commit_past_doubt needs commit_sure (how sure the words after must be)"
            )
        return self


_FILLER = {
    "you",
    "thank you",
    "thanks",
    "thank you very much",
    "thanks for watching",
    "bye",
    "oh",
    "uh",
    "um",
    "hmm",
    "mm",
    "mmm",
    "ah",
    "huh",
    "woohoo",
    "so",
    "okay",
    "yeah",
    "music",
    "applause",
    "silence",
    "laughter",
    "the end",
}


def rejection_reason(result: Transcript, gate: GateOptions) -> str | None:
    """Why a transcript is not speech worth showing, or ``None`` if it passes."""
    words = re.findall(r"\w+", result.text.lower())
    if not words:
        return "no words"
    if result.speech_s < gate.min_speech_s:
        return "speech detector heard no speech"
    no_speech = result.no_speech_prob > gate.no_speech_prob
    if no_speech and result.avg_logprob < gate.logprob_with_no_speech:
        return "whisper says no speech"
    if result.avg_logprob < gate.min_avg_logprob:
        return "low confidence"
    if result.compression_ratio > gate.max_compression_ratio:
        return "repetition loop"
    if len(words) >= 4 and len(set(words)) / len(words) < 0.4:
        return "repetition loop"  # too short for the compression ratio to show it
    if result.word_probability < gate.min_word_probability:
        return "low word confidence"
    if " ".join(words) in _FILLER and (
        result.speech_s < gate.short_text_speech_s
        or result.word_probability < gate.short_text_word_probability
        or result.avg_logprob < gate.short_text_logprob
    ):
        return "filler on little or doubtful speech"
    if _bracketed_only(result.text):
        return "sound description"
    return None


def _bracketed_only(text: str) -> bool:
    stripped = re.sub(r"[\[(*♪][^\])*♪]*[\])*♪]", "", text)
    return not re.search(r"\w", stripped)


def common_word_prefix(a: list[str], b: list[str]) -> int:
    """How many leading words two hypotheses share, ignoring case and punctuation."""
    count = 0
    for left, right in zip(a, b, strict=False):
        if _norm(left) != _norm(right) or not _norm(left):
            break
        count += 1
    return count


def repeat_start(words: list[str], start: int = 0, min_words: int = 4) -> int | None:
    """Where a run of at least ``min_words`` words that repeats the run just before it
    begins, at ``start`` or later; ``None`` if nothing repeats.

    Whisper sometimes starts an utterance over at its end ("... fine typography, and it
    is worth mention ... fine typography,"). People do repeat themselves, but hardly four
    words or more back to back.
    """
    norms = [_norm(word) for word in words]
    for index in range(max(start, min_words), len(norms)):
        for size in range(min_words, min(index, len(norms) - index) + 1):
            if norms[index : index + size] == norms[index - size : index]:
                return index
    return None


def _sure_run(confidence: tuple[float, ...], start: int, limit: int, threshold: float) -> int:
    """Where the run of words from ``start`` with at least ``threshold`` probability ends
    (at ``limit`` at the latest)."""
    end = start
    while end < min(limit, len(confidence)) and confidence[end] >= threshold:
        end += 1
    return end


def _past_doubt(confidence: tuple[float, ...], end: int, agreed: int, options: AsrOptions) -> int:
    """Where the committed words end once doubtful words followed by
    ``commit_past_doubt`` sure words are let through (all within the ``agreed`` ones)."""
    context = options.commit_past_doubt
    while (
        context
        and end + context < agreed
        and min(confidence[end + 1 : end + 1 + context]) >= options.commit_sure
    ):
        end = _sure_run(confidence, end + 1, agreed, options.commit_confidence)
    return end


def _after_prefix(
    text: str, forced: list[str], glued: frozenset[int], confidence: tuple[float, ...]
) -> tuple[list[str], frozenset[int], tuple[float, ...]]:
    """All words of a decode forced to start with ``forced``, and which ones are glued.

    The text is cut where the forced text ends, not after as many words: a word
    committed at the edge of the audio can be the start of a longer one. Forced to
    begin with "may just", Whisper writes "may justly"; "ly" then becomes a word glued
    to the one before it (shown without a space), so nothing is lost or doubled.
    """
    words = text.split()
    glued = frozenset(i for i in glued if i < len(forced))
    prefix = _joined(forced, glued)
    body = text.strip()
    if not forced or not body.startswith(prefix):
        return words, frozenset(i for i in glued if i < len(words)), confidence
    rest = body[len(prefix) :].split()
    joins = bool(rest) and not body[len(prefix)].isspace()
    if joins and not any(char.isalnum() for char in rest[0]):
        rest, joins = rest[1:], False  # only punctuation after the forced word
    glued = frozenset({*glued, len(forced)} if joins else glued)
    if len(confidence) == len(words):
        # A glued piece is not in doubt: every later decode is forced the same way.
        fresh = confidence[len(confidence) - len(rest) + joins :] if rest else ()
        confidence = (*[1.0] * len(forced), *([1.0] if joins else ()), *fresh)
    else:
        confidence = ()
    return [*forced, *rest], glued, confidence


def _joined(words: list[str], glued: frozenset[int], start: int = 0) -> str:
    """``words[start:]`` as text: a space between words, none before a glued one."""
    return "".join(
        ("" if index in glued or index == start else " ") + word
        for index, word in enumerate(words[start:], start)
    )


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


@dataclass
class _Open:
    """Per-utterance state while its partials are shown."""

    caption_id: int = -1
    rev: int = 0
    committed: list[str] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)
    emitted: int = 0
    """Committed words already sent as finals (commit_finals)."""
    emitted_end_s: float | None = None
    shown_rest: list[str] = field(default_factory=list)
    """The words of the last partial shown after those sent as finals."""
    glued: frozenset[int] = frozenset()
    """Positions of words that continue the word before them (no space between)."""
    lang: str | None = None
    shown: bool = False


class AsrStage:
    """``asr.*``: Utterance snapshots in, Caption revisions out."""

    accepts: ClassVar[type | None] = Utterance
    emits: ClassVar[type | None] = Caption

    def __init__(self, options: AsrOptions, ctx: Context, transcriber: Transcriber | None) -> None:
        self.name = "asr"
        self.options = options
        self.ctx = ctx
        self.transcriber = transcriber
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="asr")
        self._open: dict[int, _Open] = {}
        self._history = ""
        self._next_caption_id = 0

    async def prepare(self) -> None:
        """Subclasses load their model here."""

    async def run(self, inbox: Receiver[Utterance], outbox: Sender[Caption]) -> None:
        """Transcribe each snapshot off the loop and emit the resulting revisions."""
        async for utterance in inbox:
            for caption in await self._transcribe(utterance):
                await outbox.send(caption)

    async def aclose(self) -> None:
        """Let a decode still running finish in the background; drop its result."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _transcribe(self, utterance: Utterance) -> list[Caption]:
        """The revisions one snapshot produces (none, one, or a committed final and more)."""
        state = self._open.setdefault(utterance.id, _Open())
        if utterance.final:
            del self._open[utterance.id]
        # Partials are forced to keep committed words; a final is decoded freely with the
        # larger beam, which is both more accurate and gives every word a timestamp -
        # except for words already sent as finals, which it must keep too.
        commit = self.options.commit and not utterance.final
        kept = state.committed if commit else state.committed[: state.emitted]
        prefix = _joined(kept, state.glued)
        language = None if self.options.language == "auto" else self.options.language
        transcriber = self.transcriber
        assert transcriber is not None
        chars = self.options.prompt_chars
        prompt = self._history[-chars:] if chars else ""
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                lambda: transcriber.transcribe(
                    utterance.audio,
                    prompt=prompt,
                    prefix=prefix,
                    final=utterance.final,
                    language=state.lang or language,
                ),
            )
        except Exception:
            if not utterance.final:
                log.warning(
                    "asr failed on partial %d.%d; skipped",
                    utterance.id,
                    utterance.rev,
                    exc_info=True,
                )
                self.ctx.metrics.count("asr.partial_errors")
                return []
            raise
        reason = rejection_reason(result, self.options.gate)
        if reason is not None:
            self.ctx.metrics.count("asr.rejected")
            log.debug(
                "utterance %d.%d rejected (%s): %r",
                utterance.id,
                utterance.rev,
                reason,
                result,
            )
            if utterance.final and state.shown:
                return [self._caption(utterance, state, "", result.lang, 0, ())]
            return []
        state.lang = state.lang or result.lang
        words, glued, confidence = _after_prefix(
            result.text, kept, state.glued, result.word_confidence
        )
        loop = repeat_start(words, len(kept))
        if loop is not None:
            # Whisper said the same words over again: keep them once.
            self.ctx.metrics.count("asr.repeats_cut")
            cut = len(words) - loop
            words, confidence = words[:loop], confidence[:loop]
            glued = frozenset(i for i in glued if i < loop)
            result = replace(result, words=result.words[: max(0, len(result.words) - cut)])
        out: list[Caption] = []
        stable_words = 0
        if utterance.final:
            self._history = (self._history + " " + _joined(words, glued)).strip()[-1000:]
        elif self.options.commit:
            committed = len(state.committed)
            end = committed + common_word_prefix(words[committed:-1], state.previous[committed:])
            if self.options.commit_confidence and confidence:
                # Agreed words up to the first doubtful one (or past it, when the
                # words after it are sure).
                agreed = end
                end = _sure_run(confidence, committed, agreed, self.options.commit_confidence)
                past = _past_doubt(confidence, end, agreed, self.options)
                if past > end:
                    self.ctx.metrics.count("asr.doubts_passed")
                end = past
            if self.options.commit_sure:
                # And on from there, words sure enough for one partial (never the last).
                end = _sure_run(confidence, end, len(words) - 1, self.options.commit_sure)
            state.committed = words[:end]
            state.previous = words
            state.glued = glued
            stable_words = len(state.committed)
            ready = len(state.committed) - state.emitted
            if self.options.commit_finals and ready >= self.options.commit_min_words:
                out.append(self._commit_final(utterance, state, len(words), result.lang))
        # Words sent as finals are no longer part of this caption line.
        rest = words[state.emitted :]
        if utterance.final and state.emitted and len(rest) < len(state.shown_rest) / 2:
            # Forced to continue after the words already sent, Whisper sometimes stops
            # at once; the last partial then says more than the final would.
            self.ctx.metrics.count("asr.final_from_partial")
            rest, glued = state.shown_rest, state.glued
        state.shown_rest, state.glued = rest, glued
        if utterance.final and not rest and not state.shown:
            return out
        shown = [*words[: state.emitted], *rest]
        text = _joined(shown, glued, start=state.emitted)
        stable = len(shown) if utterance.final else stable_words
        stable_chars = len(_joined(shown[:stable], glued, start=state.emitted))
        timed = result.words[-len(rest) :] if rest and state.emitted else result.words
        caption = self._caption(utterance, state, text, result.lang, stable_chars, timed)
        if state.emitted_end_s is not None:
            caption = replace(caption, start_s=state.emitted_end_s)
        return [*out, caption]

    def _commit_final(self, utterance: Utterance, state: _Open, heard: int, lang: str) -> Caption:
        """Send the committed words not yet sent as a final of their own."""
        span = utterance.end_s - utterance.start_s
        start = state.emitted_end_s if state.emitted_end_s is not None else utterance.start_s
        end = utterance.start_s + span * len(state.committed) / max(heard, 1)
        text = _joined(state.committed, state.glued, start=state.emitted)
        caption = replace(
            self._caption(utterance, state, text, lang, len(text), ()),
            final=True,
            start_s=start,
            end_s=max(end, start),
        )
        state.emitted = len(state.committed)
        state.emitted_end_s = caption.end_s
        state.caption_id, state.rev, state.shown = -1, 0, False  # the rest: a new line
        self.ctx.metrics.count("asr.commit_finals")
        return caption

    def _caption(
        self,
        utterance: Utterance,
        state: _Open,
        text: str,
        lang: str,
        stable_chars: int,
        words: tuple[Word, ...],
    ) -> Caption:
        if state.caption_id < 0:
            state.caption_id = self._next_caption_id
            self._next_caption_id += 1
        caption = Caption(
            id=state.caption_id,
            rev=state.rev,
            final=utterance.final,
            source=text,
            text=text,
            lang=lang,
            start_s=utterance.start_s,
            end_s=utterance.end_s,
            origin_ns=utterance.origin_ns,
            stable_chars=stable_chars,
            utterance=utterance.id,
            continues_word=0 < state.emitted and state.emitted in state.glued,
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
        state.rev += 1
        state.shown = True
        return caption
