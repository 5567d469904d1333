"""Which language an utterance is in, when the recogniser must find out (pure).

Whisper's language detection over less than a couple of seconds of speech is a guess:
a short "Okay." in an English meeting comes out as Norwegian or Welsh often enough to
matter. So:

* the languages people may speak can be listed (``--lang en,fr``); anything else
  detected is read as the likeliest listed one;
* an utterance's language is settled once it has ``decide_s`` of audio; before that,
  each partial's guess is provisional;
* a short utterance keeps the language its speaker last spoke at length (with speaker
  labels), or else stays among the languages heard so far, unless Whisper is sure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["LanguageMemory", "parse_languages"]


def parse_languages(value: str) -> tuple[str, ...] | None:
    """``en,fr`` as ``("en", "fr")``; ``auto`` (any language) as ``None``."""
    if value.strip() == "auto":
        return None
    return tuple(code.strip() for code in value.split(",") if code.strip())


@dataclass
class LanguageMemory:
    """What a session's speakers have spoken, and the rule for choosing from it."""

    allowed: tuple[str, ...] | None
    """The languages people may speak (``None``: any)."""
    decide_s: float = 2.0
    """Audio an utterance needs before its language is settled."""
    sure: float = 0.9
    """Detection probability at which a short utterance may leave what is known."""
    by_speaker: dict[str, str] = field(default_factory=dict)
    heard: set[str] = field(default_factory=set)
    """Languages of the utterances long enough to judge."""

    def choose(
        self, probabilities: Sequence[tuple[str, float]], audio_s: float, speaker: str
    ) -> str:
        """The language to decode in, from Whisper's detection ``probabilities``.

        A short utterance keeps its speaker's language, and without a known speaker it
        stays among the languages heard so far, unless Whisper is ``sure`` otherwise.
        """
        candidates = [
            (code, p) for code, p in probabilities if self.allowed is None or code in self.allowed
        ]
        if not candidates:  # the model knows none of the listed languages' tokens
            return self.allowed[0] if self.allowed else "en"
        best, probability = max(candidates, key=lambda item: item[1])
        if audio_s >= self.decide_s or probability >= self.sure:
            return best
        known = self.by_speaker.get(speaker)
        if known is not None:
            return known
        familiar = [(code, p) for code, p in candidates if code in self.heard]
        if familiar and best not in self.heard:
            return max(familiar, key=lambda item: item[1])[0]
        return best

    def settled(self, audio_s: float) -> bool:
        """Whether a language chosen over ``audio_s`` of audio is final for its utterance."""
        return audio_s >= self.decide_s

    def remember(self, language: str, audio_s: float, speaker: str = "") -> None:
        """Note what an utterance long enough to judge was spoken in."""
        if audio_s < self.decide_s:
            return
        self.heard.add(language)
        if speaker:
            self.by_speaker[speaker] = language
