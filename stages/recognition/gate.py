"""The speech gate: whether what Whisper wrote is speech worth showing.

Whisper invents short captions on silence, noise and music ("Thank you.", "you",
"You know what?"), and no single signal catches them all (``docs/streaming-policy.md``
has the measurements). So a transcript must pass several checks of its signals: how
much of the audio a neural speech detector called speech, Whisper's no-speech
probability together with its average log-probability, the compression ratio, the
words' probabilities, and the shape of the text. Pure: signals in, a reason out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from canvascap.pipeline.types import Word

__all__ = ["UNSURE_SPEECH_S", "GateOptions", "LostSpeech", "Transcript", "rejection_reason"]


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
    short_text_words: int = Field(4, ge=0)
    """A text of at most this many words ..."""
    short_text_min_logprob: float = -1.0
    """... needs at least this average log-probability. Whisper's inventions on whale
    song and music are short phrases it doubts ("You know what?" at -1.16, with the
    speech detector fooled); short spoken phrases in the English test set score -0.73
    or better, partials included."""
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
    if len(words) <= gate.short_text_words and result.avg_logprob < gate.short_text_min_logprob:
        return "a few doubtful words"
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


_UNSURE = frozenset({"low confidence", "low word confidence"})
UNSURE_SPEECH_S = 2.0
"""Speech (by the speech detector) in a dropped final that is worth telling the user of."""


class LostSpeech:
    """Says once when clear speech was dropped because Whisper was unsure of its text:
    silence and noise are dropped quietly, but this the user can act on."""

    def __init__(self, translating: bool) -> None:
        self.translating = translating
        """Whisper translates the speech (``asr.task=translate``)."""
        self.told = False

    def lost(self, result: Transcript, reason: str) -> bool:
        """Whether a dropped final held clear speech (the stage counts these)."""
        return reason in _UNSURE and result.speech_s >= UNSURE_SPEECH_S

    def warning(self, result: Transcript, reason: str) -> str | None:
        """The warning for the first final whose speech was lost; ``None`` after it."""
        if self.told or not self.lost(result, reason):
            return None
        self.told = True
        what = "translation" if self.translating else "text"
        other = ", or translate with DiffusionGemma (--llm)" if self.translating else ""
        return (
            f"{result.speech_s:.0f} s of speech were not captioned: Whisper was too unsure "
            f"of its {what} ({reason}). A larger model (--model small) may do better{other}; "
            "-v shows every case"
        )


def _bracketed_only(text: str) -> bool:
    stripped = re.sub(r"[\[(*♪][^\])*♪]*[\])*♪]", "", text)
    return not re.search(r"\w", stripped)
