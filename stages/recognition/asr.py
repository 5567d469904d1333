"""Streaming speech recognition: partial captions while a person speaks, one final after.

``AsrStage`` turns each ``Utterance`` snapshot into ``Caption`` revisions. It is a
coordinator; each policy is a collaborator with one job and tests of its own:

* ``gate.rejection_reason``: whether a transcript is speech at all (``gate.LostSpeech``
  says once when clear speech was dropped);
* ``captioner.UtteranceCaptioner``: which words are settled and which revisions a
  snapshot makes, with ``commit_finals`` committed words sent as finals mid-sentence;
* ``terms.GlossaryTerms``: finals decoded again expecting the glossary's terms, and
  near-misspellings set right;
* ``languages.LanguageMemory``: which language an utterance is in, when several may be
  spoken;
* ``speaker_turns.SpeakerTurns``: who said a caption, and finals split where the voice
  changes.

What stays here: decoding each snapshot off the loop (one worker thread per stage; the
inbox coalesces snapshots, so a slow model always works on the newest audio and never
on a backlog), and the order in which the collaborators see each result.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from pydantic import BaseModel

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.captions.speaker_names import SpeakerNames
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption, Utterance
from canvascap.stages.glossary import load_glossary
from canvascap.stages.recognition.captioner import LiveLine, UtteranceCaptioner
from canvascap.stages.recognition.gate import GateOptions, LostSpeech, rejection_reason
from canvascap.stages.recognition.languages import LanguageMemory, parse_languages
from canvascap.stages.recognition.options import AsrOptions
from canvascap.stages.recognition.speaker_turns import SpeakerTurns
from canvascap.stages.recognition.terms import GlossaryTerms
from canvascap.stages.recognition.transcriber import Transcriber, Transcript
from canvascap.stages.speakers.labeler import SpeakerLabeler

__all__ = ["AsrOptions", "AsrStage", "GateOptions", "Transcriber", "Transcript"]

log = logging.getLogger(__name__)


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
        self.captioner = UtteranceCaptioner(options, ctx.metrics)
        self._lost_speech = LostSpeech(getattr(options, "task", "transcribe") == "translate")
        self._glossary = load_glossary(options.glossary) if options.glossary else None
        self._terms: GlossaryTerms | None = None
        self._speakers: SpeakerTurns | None = None
        allowed = parse_languages(options.language)
        self._languages = LanguageMemory(allowed) if allowed is None or len(allowed) > 1 else None
        """How languages are chosen when the recogniser must detect them."""

    async def prepare(self) -> None:
        """Set up the glossary and, if labels are on, load the speaker encoder;
        subclasses load their model first."""
        transcriber = self.transcriber
        if self._glossary is not None and self._glossary.terms and transcriber is not None:
            self._terms = GlossaryTerms(
                self._glossary, transcriber, self.options.glossary_similarity, self.ctx.metrics
            )
        if self.options.speakers.enabled and transcriber is not None:
            names = self.ctx.services.get(SpeakerNames)
            labeler = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                SpeakerLabeler,
                self.options.speakers,
                names.names if names is not None else {},
            )
            self._speakers = SpeakerTurns(
                labeler, transcriber, self.options.gate, self.ctx.metrics, self.captioner.new_id
            )

    async def run(self, inbox: Receiver[Utterance], outbox: Sender[Caption]) -> None:
        """Transcribe each snapshot off the loop and emit the resulting revisions."""
        loop = asyncio.get_running_loop()
        async for utterance in inbox:
            captions = await self._transcribe(utterance)
            if self._speakers is not None and captions:
                live = self.captioner.live(utterance.id)
                captions = await loop.run_in_executor(
                    self._executor, self._speakers.label, utterance, captions, live
                )
            if self._terms is not None:
                captions = [self._terms.fix(c) for c in captions]
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
        line = self.captioner.open(utterance)
        result = await self._decode(utterance, line, self.captioner.forced_words(utterance, line))
        if result is None:
            return []
        reason = rejection_reason(result, self.options.gate)
        if reason is not None:
            self._rejected(utterance, result, reason)
            return self.captioner.retraction(utterance, line, result.lang)
        if self._languages is None or self._languages.settled(len(utterance.audio) / SAMPLE_RATE):
            line.lang = line.lang or result.lang  # an utterance keeps its language
        return self.captioner.captions(utterance, line, result)

    def _rejected(self, utterance: Utterance, result: Transcript, reason: str) -> None:
        self.ctx.metrics.count("asr.rejected")
        log.debug("utterance %d.%d rejected (%s): %r", utterance.id, utterance.rev, reason, result)
        if not utterance.final:
            return
        if self._lost_speech.lost(result, reason):
            self.ctx.metrics.count("asr.unsure_speech")
        warning = self._lost_speech.warning(result, reason)
        if warning is not None:
            log.warning(warning)

    async def _decode(self, utterance: Utterance, line: LiveLine, prefix: str) -> Transcript | None:
        """One decode in the worker thread; a failed partial is skipped, a failed final is
        fatal."""
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._decode_blocking, utterance, line, prefix
            )
        except Exception:
            if utterance.final:
                raise
            log.warning(
                "asr failed on partial %d.%d; skipped", utterance.id, utterance.rev, exc_info=True
            )
            self.ctx.metrics.count("asr.partial_errors")
            return None

    def _decode_blocking(self, utterance: Utterance, line: LiveLine, prefix: str) -> Transcript:
        """Choose the language, decode, and for a final try the glossary (worker thread)."""
        transcriber = self.transcriber
        if transcriber is None:
            raise RuntimeError("the recogniser was not prepared")
        chars = self.options.prompt_chars
        prompt = self.captioner.history[-chars:] if chars else ""
        language = line.lang
        if language is None and self._languages is None:
            language = self.options.language
        elif language is None and self._languages is not None:
            found = transcriber.detect_language(utterance.audio)
            audio_s = len(utterance.audio) / SAMPLE_RATE
            language = self._languages.choose(found, audio_s, line.speaker)
        result = transcriber.transcribe(
            utterance.audio, prompt=prompt, prefix=prefix, final=utterance.final, language=language
        )
        if self._terms is None or not utterance.final:
            return result
        return self._terms.redecode(
            transcriber, utterance.audio, result, prompt=prompt, prefix=prefix, language=language
        )
