"""Which words of a growing utterance are settled: the stable-prefix commit rule.

Words on which two successive partial hypotheses agree are committed (LocalAgreement-2,
as in whisper_streaming) and never change afterwards; later decodes are forced to start
with them, so words already on screen do not flicker. Whisper's per-word probability
can gate that: a doubtful word waits, with the words after it, unless enough sure words
follow; a very sure word may be committed after one partial. Pure: words and
probabilities in, decisions out; no model and no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Agreement",
    "CommitRule",
    "Hypothesis",
    "StablePrefix",
    "common_word_prefix",
    "joined",
    "repeat_start",
]


@dataclass(frozen=True, slots=True)
class CommitRule:
    """How sure Whisper must be of a word before it is committed (0 turns a part off)."""

    confidence: float = 0.0
    """A word two partials agree on needs at least this probability."""
    sure: float = 0.0
    """A word with at least this probability is committed after one partial (never the
    last word heard, which may be cut off)."""
    past_doubt: int = 0
    """A doubtful word goes through when this many agreed words after it are all sure."""


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """One decode of an utterance as words, and which of them continue the word before.

    ``glued`` holds the positions of words written without a space before them (the
    rest of a word that was cut where the forced text ended). ``confidence`` has one
    probability per word, or is empty when the decode gave none.
    """

    words: list[str]
    glued: frozenset[int] = frozenset()
    confidence: tuple[float, ...] = ()

    @classmethod
    def after_prefix(
        cls, text: str, forced: list[str], glued: frozenset[int], confidence: tuple[float, ...]
    ) -> Hypothesis:
        """All words of a decode that was forced to start with ``forced``.

        The text is cut where the forced text ends, not after as many words: a word
        committed at the edge of the audio can be the start of a longer one. Forced to
        begin with "may just", Whisper writes "may justly"; "ly" then becomes a word
        glued to the one before it (shown without a space), so nothing is lost or
        doubled.
        """
        words = text.split()
        glued = frozenset(i for i in glued if i < len(forced))
        prefix = joined(forced, glued)
        body = text.strip()
        if not forced or not body.startswith(prefix):
            return cls(words, frozenset(i for i in glued if i < len(words)), confidence)
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
        return cls([*forced, *rest], glued, confidence)

    def cut_repeat(self, start: int) -> tuple[Hypothesis, int]:
        """Without a run of words said twice in a row (at ``start`` or later); and how
        many words were cut."""
        loop = repeat_start(self.words, start)
        if loop is None:
            return self, 0
        cut = Hypothesis(
            self.words[:loop],
            frozenset(i for i in self.glued if i < loop),
            self.confidence[:loop],
        )
        return cut, len(self.words) - loop

    def text(self, start: int = 0) -> str:
        """The words from ``start`` on, as text."""
        return joined(self.words, self.glued, start)


@dataclass(frozen=True, slots=True)
class Agreement:
    """What one partial settled."""

    committed: list[str]
    """Every committed word of the utterance so far."""
    passed_doubt: bool = False
    """A doubtful word went through because sure words followed it."""


@dataclass
class StablePrefix:
    """The committed words of one utterance, updated with each partial hypothesis."""

    rule: CommitRule = field(default_factory=CommitRule)
    words: list[str] = field(default_factory=list)
    """Committed words: every later decode starts with them."""
    _previous: list[str] = field(default_factory=list)

    def update(self, words: list[str], confidence: tuple[float, ...] = ()) -> Agreement:
        """Commit what this partial agrees on with the one before (never its last word)."""
        rule = self.rule
        committed = len(self.words)
        end = committed + common_word_prefix(words[committed:-1], self._previous[committed:])
        passed = False
        if rule.confidence and confidence:
            # Agreed words up to the first doubtful one (or past it, when the words
            # after it are sure).
            agreed = end
            end = _sure_run(confidence, committed, agreed, rule.confidence)
            past = self._past_doubt(confidence, end, agreed)
            passed = past > end
            end = past
        if rule.sure:
            # And on from there, words sure enough for one partial (never the last).
            end = _sure_run(confidence, end, len(words) - 1, rule.sure)
        self.words = words[:end]
        self._previous = words
        return Agreement(self.words, passed)

    def _past_doubt(self, confidence: tuple[float, ...], end: int, agreed: int) -> int:
        """Where the committed words end once doubtful words followed by
        ``past_doubt`` sure words are let through (all within the ``agreed`` ones)."""
        context = self.rule.past_doubt
        while (
            context
            and end + context < agreed
            and min(confidence[end + 1 : end + 1 + context]) >= self.rule.sure
        ):
            end = _sure_run(confidence, end + 1, agreed, self.rule.confidence)
        return end


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


def joined(words: list[str], glued: frozenset[int], start: int = 0) -> str:
    """``words[start:]`` as text: a space between words, none before a glued one."""
    return "".join(
        ("" if index in glued or index == start else " ") + word
        for index, word in enumerate(words[start:], start)
    )


def _sure_run(confidence: tuple[float, ...], start: int, limit: int, threshold: float) -> int:
    """Where the run of words from ``start`` with at least ``threshold`` probability ends
    (at ``limit`` at the latest)."""
    end = start
    while end < min(limit, len(confidence)) and confidence[end] >= threshold:
        end += 1
    return end


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())
