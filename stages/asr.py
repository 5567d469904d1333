"""Streaming speech recognition: partial captions while a person speaks, one final after.

The stage turns each ``Utterance`` snapshot into ``Caption`` revisions through a
``Transcriber`` (the faster-whisper adapter lives in ``asr_faster_whisper``). The
policies it applies are pure and live apart: which words are settled
(``asr_commit.StablePrefix``) and whether a transcript is speech at all
(``speech_gate.rejection_reason``). What stays here is orchestration:

* decode each snapshot off the loop, forcing partials to start with committed words;
* drop what the gate rejects, retracting partials already shown when a final fails;
* with ``commit_finals``, send committed words as finals while the person speaks,
  each piece a caption of its own on the same utterance;
* optionally carry the tail of recent finals as the next prompt;
* with ``speakers.enabled``, label captions with who said them (``stages.speakers``),
  splitting a final where the voice changes.

Inference runs in one worker thread per stage; the inbox coalesces snapshots, so a
slow model always works on the newest audio and never on a backlog.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from canvascap.pipeline.audio import SAMPLE_RATE
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption, Utterance, Word
from canvascap.stages.asr_commit import CommitRule, Hypothesis, StablePrefix, joined
from canvascap.stages.glossary import TermFixer, load_glossary, recognition_prompt
from canvascap.stages.language_choice import LanguageMemory, parse_languages
from canvascap.stages.speakers import (
    LabelledTurn,
    SpeakerLabeler,
    SpeakerOptions,
    split_by_turns,
)
from canvascap.stages.speech_gate import GateOptions, Transcript, rejection_reason

__all__ = ["AsrOptions", "AsrStage", "GateOptions", "Transcriber", "Transcript"]

log = logging.getLogger(__name__)

_UNSURE = frozenset({"low confidence", "low word confidence"})
UNSURE_SPEECH_S = 2.0
"""Speech (by the speech detector) in a dropped final that is worth telling the user of."""


class Transcriber(Protocol):
    """A speech recogniser that works on one snapshot at a time (blocking)."""

    def transcribe(
        self, audio: np.ndarray, *, prompt: str, prefix: str, final: bool, language: str | None
    ) -> Transcript: ...

    def detect_language(self, audio: np.ndarray) -> list[tuple[str, float]]:
        """Each language the recogniser knows, with the probability it is ``audio``'s."""
        ...

    def is_common_word(self, word: str) -> bool:
        """Whether ``word`` is an everyday word the glossary must never replace."""
        ...


class AsrOptions(BaseModel):
    """Options shared by every recogniser stage."""

    model_config = ConfigDict(extra="forbid")

    language: str = "en"
    """A language code; several (``en,fr``): the languages people may speak, one
    detected per utterance among them; or ``auto`` to detect any per utterance."""
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
    speakers: SpeakerOptions = SpeakerOptions()
    glossary: str | None = None
    """YAML glossary (``--glossary``): its terms go into Whisper's prompt, and words that
    spell a term nearly right are set right."""
    glossary_similarity: float = Field(0.85, gt=0, le=1)
    """How alike (letters, difflib's ratio) words must be to a term to be replaced by it."""

    @property
    def commit_rule(self) -> CommitRule:
        """The commit rule these options describe."""
        return CommitRule(self.commit_confidence, self.commit_sure, self.commit_past_doubt)

    @model_validator(mode="after")
    def _past_doubt_needs_sure(self) -> AsrOptions:
        if self.commit_past_doubt and not self.commit_sure:
            raise ValueError(
                "commit_past_doubt needs commit_sure (how sure the words after must be)"
            )
        return self


@dataclass
class _Line:
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


class AsrStage:
    """``asr.*``: Utterance snapshots in, Caption revisions out."""

    Options: ClassVar[type[BaseModel]] = AsrOptions
    accepts: ClassVar[type | None] = Utterance
    emits: ClassVar[type | None] = Caption

    def __init__(self, options: AsrOptions, ctx: Context, transcriber: Transcriber | None) -> None:
        self.name = "asr"
        self.options = options
        self.ctx = ctx
        self.transcriber = transcriber
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="asr")
        self._lines: dict[int, _Line] = {}
        self._history = ""
        self._next_caption_id = 0
        self._told_unsure = False
        self._speakers: SpeakerLabeler | None = None
        glossary = load_glossary(options.glossary) if options.glossary else None
        self._glossary_prompt = recognition_prompt(glossary) if glossary else ""
        self._terms = glossary.terms if glossary else ()
        self._fixer: TermFixer | None = None
        allowed = parse_languages(options.language)
        self._languages = LanguageMemory(allowed) if allowed is None or len(allowed) > 1 else None
        """How languages are chosen when the recogniser must detect them."""

    async def prepare(self) -> None:
        """Load the speaker encoder if labels are on; subclasses load their model first."""
        if self._terms and self.transcriber is not None:
            self._fixer = TermFixer(
                self._terms, self.transcriber.is_common_word, self.options.glossary_similarity
            )
        if self.options.speakers.enabled:
            self._speakers = await asyncio.get_running_loop().run_in_executor(
                self._executor, SpeakerLabeler, self.options.speakers, self.ctx.speaker_names
            )

    async def run(self, inbox: Receiver[Utterance], outbox: Sender[Caption]) -> None:
        """Transcribe each snapshot off the loop and emit the resulting revisions."""
        async for utterance in inbox:
            captions = await self._transcribe(utterance)
            if self._speakers is not None and captions:
                captions = await self._label(utterance, captions, self._speakers)
            if self._fixer is not None:
                captions = [self._fix_terms(c, self._fixer) for c in captions]
            if utterance.final and self._languages is not None:
                audio_s = len(utterance.audio) / SAMPLE_RATE
                for caption in captions:
                    if caption.text:
                        self._languages.remember(caption.lang, audio_s, caption.speaker)
            for caption in captions:
                await outbox.send(caption)

    async def aclose(self) -> None:
        """Let a decode still running finish in the background; drop its result."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _transcribe(self, utterance: Utterance) -> list[Caption]:
        """The revisions one snapshot produces (none, one, or a committed final and more)."""
        line = self._lines.setdefault(utterance.id, _Line(StablePrefix(self.options.commit_rule)))
        if utterance.final:
            del self._lines[utterance.id]
        # Partials are forced to keep committed words; a final is decoded freely with the
        # larger beam, which is both more accurate and gives every word a timestamp -
        # except for words already sent as finals, which it must keep too.
        committed = line.prefix.words
        kept = (
            committed if self.options.commit and not utterance.final else committed[: line.emitted]
        )
        result = await self._decode(utterance, line, joined(kept, line.glued))
        if result is None:
            return []
        reason = rejection_reason(result, self.options.gate)
        if reason is not None:
            self.ctx.metrics.count("asr.rejected")
            if utterance.final:
                self._tell_if_speech_was_lost(result, reason)
            log.debug(
                "utterance %d.%d rejected (%s): %r", utterance.id, utterance.rev, reason, result
            )
            if utterance.final and line.shown:
                return [self._caption(utterance, line, "", result.lang, 0, ())]
            return []
        if self._languages is None or self._languages.settled(len(utterance.audio) / SAMPLE_RATE):
            line.lang = line.lang or result.lang  # an utterance keeps its language
        hypothesis, cut = Hypothesis.after_prefix(
            result.text, kept, line.glued, result.word_confidence
        ).cut_repeat(len(kept))
        if cut:
            # Whisper said the same words over again: keep them once.
            self.ctx.metrics.count("asr.repeats_cut")
            result = replace(result, words=result.words[: max(0, len(result.words) - cut)])
        out: list[Caption] = []
        stable_words = 0
        if utterance.final:
            self._history = (self._history + " " + hypothesis.text()).strip()[-1000:]
        elif self.options.commit:
            stable_words, piece = self._commit(utterance, line, hypothesis, result.lang)
            out += piece
        caption = self._rest(utterance, line, hypothesis, result, stable_words)
        return out if caption is None else [*out, caption]

    def _fix_terms(self, caption: Caption, fixer: TermFixer) -> Caption:
        """``caption`` with glossary terms set right; finals count each term used."""
        if not caption.text:
            return caption
        text, fixed = fixer.fix(caption.text)
        if caption.final:
            for term in fixed:
                self.ctx.metrics.count(f"glossary.fixed.{term}")
            for term in self._terms:
                uses = len(re.findall(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE))
                if uses:
                    self.ctx.metrics.count(f"glossary.used.{term}", uses)
        if not fixed:
            return caption
        stable = caption.stable_chars
        if stable:
            head = fixer.fix(caption.text[:stable])[0]
            stable = len(head) if text.startswith(head) else len(os.path.commonprefix([head, text]))
        return replace(caption, text=text, source=text, stable_chars=stable)

    async def _label(
        self, utterance: Utterance, captions: list[Caption], labeler: SpeakerLabeler
    ) -> list[Caption]:
        """``captions`` with who said them. A partial's label is provisional (decided
        again each second of new audio); a final's is learnt, and a final whose voice
        changes midway becomes one caption per turn."""
        loop = asyncio.get_running_loop()
        line = self._lines.get(utterance.id)
        if line is not None:  # still being spoken
            heard_s = len(utterance.audio) / SAMPLE_RATE
            if not line.speaker or heard_s - line.labelled_s >= 1.0:
                line.speaker = await loop.run_in_executor(
                    self._executor, labeler.provisional, utterance.audio
                )
                line.labelled_s = heard_s
            return [replace(c, speaker=line.speaker) for c in captions]
        found = await loop.run_in_executor(
            self._executor, labeler.final_turns, utterance.audio, utterance.start_s
        )
        out: list[Caption] = []
        for caption in captions:
            if not caption.text:
                out.append(caption)
                continue
            whole = caption.start_s == utterance.start_s  # no words were sent before it
            if len(found) > 1 and whole:
                # Whisper often drops the second voice of a window; each turn decoded
                # on its own keeps every person's words.
                pieces = await self._decode_turns(utterance, caption, found)
            else:
                pieces = split_by_turns(caption, found)
            if not pieces:
                out.append(replace(caption, text="", source=""))
                continue
            out.append(pieces[0])
            for piece in pieces[1:]:
                self.ctx.metrics.count("asr.speaker_splits")
                out.append(replace(piece, id=self._next_caption_id, rev=0))
                self._next_caption_id += 1
        return out

    async def _decode_turns(
        self, utterance: Utterance, caption: Caption, found: list[LabelledTurn]
    ) -> list[Caption]:
        """One final caption per turn of ``utterance``, each decoded from its own audio
        (the first keeps ``caption``'s id; a turn the speech gate rejects is left out)."""
        transcriber = self.transcriber
        if transcriber is None:
            raise RuntimeError("the recogniser was not prepared")
        pieces: list[Caption] = []
        for turn in found:
            first = int((turn.start_s - utterance.start_s) * SAMPLE_RATE)
            last = int((turn.end_s - utterance.start_s) * SAMPLE_RATE)
            audio = utterance.audio[max(first, 0) : last]
            decode = functools.partial(
                transcriber.transcribe,
                audio,
                prompt="",
                prefix="",
                final=True,
                language=caption.lang,
            )
            result = await asyncio.get_running_loop().run_in_executor(self._executor, decode)
            if not result.text or rejection_reason(result, self.options.gate) is not None:
                continue
            pieces.append(
                replace(
                    caption,
                    text=result.text,
                    source=result.text,
                    start_s=turn.start_s,
                    end_s=turn.end_s,
                    stable_chars=len(result.text),
                    words=tuple(
                        Word(
                            w.text, turn.start_s + w.start_s, turn.start_s + w.end_s, w.probability
                        )
                        for w in result.words
                    ),
                    speaker=turn.speaker,
                )
            )
        return pieces

    def _tell_if_speech_was_lost(self, result: Transcript, reason: str) -> None:
        """Say once when clear speech was dropped because Whisper was unsure of its text:
        silence and noise are dropped quietly, but this the user can act on."""
        if reason not in _UNSURE or result.speech_s < UNSURE_SPEECH_S:
            return
        self.ctx.metrics.count("asr.unsure_speech")
        if self._told_unsure:
            return
        self._told_unsure = True
        translating = getattr(self.options, "task", "transcribe") == "translate"
        log.warning(
            "%.0f s of speech were not captioned: Whisper was too unsure of its %s (%s). "
            "A larger model (--model small) may do better%s; -v shows every case",
            result.speech_s,
            "translation" if translating else "text",
            reason,
            ", or translate with DiffusionGemma (--llm)" if translating else "",
        )

    async def _decode(self, utterance: Utterance, line: _Line, prefix: str) -> Transcript | None:
        """One decode in the worker thread; a failed partial is skipped, a failed final is
        fatal."""
        transcriber = self.transcriber
        if transcriber is None:
            raise RuntimeError("the recogniser was not prepared")
        chars = self.options.prompt_chars
        prompt = self._history[-chars:] if chars else ""
        memory = self._languages
        audio_s = len(utterance.audio) / SAMPLE_RATE
        fixer = self._fixer if utterance.final else None

        def decode() -> tuple[Transcript, bool]:
            language = line.lang
            if language is None and memory is None:
                language = self.options.language
            elif language is None and memory is not None:
                found = transcriber.detect_language(utterance.audio)
                language = memory.choose(found, audio_s, line.speaker)
            result = transcriber.transcribe(
                utterance.audio,
                prompt=prompt,
                prefix=prefix,
                final=utterance.final,
                language=language,
            )
            if fixer is None or not fixer.suspects(result.text):
                return result, False
            # Words that may be a glossary term heard wrong: decode again expecting the
            # terms, and keep whichever decode Whisper is surer of. Only such finals
            # see the terms, so nothing else is decoded differently.
            expecting = transcriber.transcribe(
                utterance.audio,
                prompt=f"{self._glossary_prompt} {prompt}".strip(),
                prefix=prefix,
                final=True,
                language=language,
            )
            if expecting.avg_logprob >= result.avg_logprob:
                return expecting, True
            return result, False

        try:
            result, expected_terms = await asyncio.get_running_loop().run_in_executor(
                self._executor, decode
            )
            if expected_terms:
                self.ctx.metrics.count("asr.glossary_decodes")
            return result
        except Exception:
            if utterance.final:
                raise
            log.warning(
                "asr failed on partial %d.%d; skipped", utterance.id, utterance.rev, exc_info=True
            )
            self.ctx.metrics.count("asr.partial_errors")
            return None

    def _commit(
        self, utterance: Utterance, line: _Line, hypothesis: Hypothesis, lang: str
    ) -> tuple[int, list[Caption]]:
        """Settle what this partial agrees on; with commit_finals, send it as a final."""
        agreement = line.prefix.update(hypothesis.words, hypothesis.confidence)
        if agreement.passed_doubt:
            self.ctx.metrics.count("asr.doubts_passed")
        line.glued = hypothesis.glued
        committed = len(agreement.committed)
        ready = committed - line.emitted
        if self.options.commit_finals and ready >= self.options.commit_min_words:
            return committed, [self._commit_final(utterance, line, len(hypothesis.words), lang)]
        return committed, []

    def _rest(
        self,
        utterance: Utterance,
        line: _Line,
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
            self.ctx.metrics.count("asr.final_from_partial")
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

    def _commit_final(self, utterance: Utterance, line: _Line, heard: int, lang: str) -> Caption:
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
        self.ctx.metrics.count("asr.commit_finals")
        return caption

    def _caption(
        self,
        utterance: Utterance,
        line: _Line,
        text: str,
        lang: str,
        stable_chars: int,
        words: tuple[Word, ...],
    ) -> Caption:
        if line.caption_id < 0:
            line.caption_id = self._next_caption_id
            self._next_caption_id += 1
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
