"""Messages that flow between stages.

Three message types carry everything: raw audio (`AudioFrame`), snapshots of one spoken
segment (`Utterance`) and caption revisions (`Caption`). Media time (`start_s`, `end_s`) is
the sample index over the rate, so it is the same on every run of a file; `origin_ns` is
the wall-clock time at which the newest audio in the message was captured, the origin
for every latency figure.

Invariants kept along every edge: `(id, rev)` only increases, revisions may be skipped
but never reordered, and a final is the last revision of its id.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["AudioFrame", "Caption", "Keyed", "Role", "Timed", "Utterance", "Word"]


@runtime_checkable
class Keyed(Protocol):
    """A message with revisions: what a coalescing channel matches and keeps."""

    @property
    def key(self) -> Hashable:
        """What a newer revision of the same thing shares with this one."""
        ...

    @property
    def final(self) -> bool:
        """Whether this is the last revision (never replaced in a queue)."""
        ...


@runtime_checkable
class Timed(Protocol):
    """A message that knows when its newest audio was captured: channels measure lag
    from it."""

    @property
    def origin_ns(self) -> int:
        """Capture time of the newest audio in the message, on the session's clock."""
        ...


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """A short block of 16-bit little-endian mono PCM from a source."""

    pcm: bytes
    sample_rate: int
    start_s: float
    origin_ns: int

    @property
    def duration_s(self) -> float:
        """Length of the frame in seconds."""
        return len(self.pcm) / 2 / self.sample_rate


@dataclass(frozen=True, slots=True, eq=False)
class Utterance:
    """A snapshot of one speech segment, from its start up to now.

    Revisions `rev = 0, 1, 2, ...` are partial snapshots while the person is still
    speaking; `final=True` marks the last one (end of speech, forced split, or end of
    stream). `audio` is float32 at 16 kHz.
    """

    id: int
    rev: int
    final: bool
    audio: np.ndarray
    start_s: float
    end_s: float
    origin_ns: int

    @property
    def key(self) -> int:
        """Snapshots of one segment share its id."""
        return self.id


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its media-time span."""

    text: str
    start_s: float
    end_s: float
    probability: float = 1.0


class Role(StrEnum):
    """What a caption line is, so displays never have to guess."""

    SPOKEN = "spoken"
    """The recognised words, in the language they were spoken in."""
    CLEANED = "cleaned"
    """The spoken line, cleaned up (recognition fixes, punctuation, no fillers); it
    replaces the spoken line's revisions under the same key."""
    TRANSLATION = "translation"
    """A translation into ``lang``; until it arrives it may carry the spoken text."""


@dataclass(frozen=True, slots=True)
class Caption:
    """One revision of one caption line, keyed by `(id, lang)`.

    `role` says whether the line is the spoken text, its cleaned version or a
    translation (a translation that fell back to the spoken text is still a
    translation). `source` is the recognised text in the spoken language; `text` is what to show in
    `lang` (the same as `source` when nothing translated it). `stable_chars` is the
    length of the prefix of `text` that later revisions will not change, so displays
    can keep those words still. An empty final `text` retracts a caption whose partials
    were shown but which turned out not to be speech. `utterance` is the spoken segment
    the caption belongs to: when words are sent as finals mid-sentence, the pieces share
    it, so displays keep them on one line (-1: unknown). `continues_word` says the text
    starts with the rest of the previous piece's last word ("just" was sent, then
    Whisper heard "justly"): displays join the two pieces without a space. `speaker` is
    who said it (``S1``, ``S2``, ... or a name given to a label; empty: not known).
    `stand_in` marks a translation line that shows the spoken text because no
    translation came (yet): displays may style it, and subtitles and platforms, which
    take only real translations, leave it out.
    """

    id: int
    rev: int
    final: bool
    source: str
    text: str
    lang: str
    start_s: float
    end_s: float
    origin_ns: int
    stable_chars: int = 0
    words: tuple[Word, ...] = field(default=())
    utterance: int = -1
    continues_word: bool = False
    role: Role = Role.SPOKEN
    speaker: str = ""
    stand_in: bool = False

    @property
    def spoken(self) -> bool:
        """Whether this is the line of the spoken words (raw or cleaned), not a translation."""
        return self.role is not Role.TRANSLATION

    @property
    def key(self) -> tuple[int, str]:
        """What identifies one caption line: its id and its language."""
        return (self.id, self.lang)
