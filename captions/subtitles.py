"""Subtitle cues that follow the published subtitle guidelines.

The rules are those of the BBC Subtitle Guidelines and Netflix's Timed Text Style Guide
(English), which agree on what viewers need:

* at most two lines of 42 characters (32 for CEA-608 broadcast captions);
* a reading speed of at most 17 characters a second for recorded media (live roll-up
  captions may run faster, since they follow the speaker);
* a cue on screen for at least 5/6 of a second and at most 7 seconds;
* at least two frames (83 ms at 24 fps) between one cue and the next;
* lines broken where the sense breaks: after punctuation, before a conjunction or a
  preposition, never between an article and its noun.

A caption longer than a cue allows is cut at word boundaries into cues of at most two
lines and 7 seconds, timed from the words when the recogniser timed them (otherwise the
caption's time is shared out by characters). A cue too short to read is lengthened into
the silence after it, never into the next cue. Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from canvascap.pipeline.types import Caption

__all__ = ["Cue", "CueRules", "CueStream", "break_lines", "cues", "join_pieces", "word_spans"]


@dataclass(frozen=True, slots=True)
class CueRules:
    """Limits a cue must keep (defaults: the guidelines for recorded media)."""

    line_chars: int = 42
    lines: int = 2
    max_cps: float = 17.0
    """Reading speed, characters per second (spaces included)."""
    min_s: float = 5 / 6
    max_s: float = 7.0
    gap_s: float = 2 / 24
    """Two frames at 24 fps."""


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle cue; ``text`` holds its lines separated by newlines."""

    start_s: float
    end_s: float
    text: str
    speaker: str = ""
    """Who said it, when speaker labels are on."""


# Words a line should not end on: a line break after them splits a phrase.
_BINDS_TO_NEXT = frozenset(
    "a an the this that these those my your his her its our their "
    "to of in on at by for with from into onto than as and or but nor so if".split()
)
# Words a line may well start with: a break before them follows the sense.
_OPENS_A_PHRASE = frozenset(
    "and but or nor so yet because although though while when where which who whom "
    "whose that if unless until after before since to of in on at by for with from".split()
)


def cues(captions: Iterable[Caption], rules: CueRules | None = None) -> list[Cue]:
    """Finals as cues that keep ``rules``, in time order."""
    stream = CueStream(rules)
    out: list[Cue] = []
    for caption in sorted(captions, key=lambda c: (c.start_s, c.id)):
        out += stream.add(caption)
    return out + stream.flush()


class CueStream:
    """Cues made as finals arrive, for subtitles written while a session runs.

    An utterance's finals (it may come in pieces) are held until the next utterance
    begins: only then are its cues final, since the next one's start bounds how long
    its last cue may stay. ``cues()`` is this stream over a whole transcript, so files
    written live and files rebuilt later are the same.
    """

    def __init__(self, rules: CueRules | None = None) -> None:
        self.rules = rules or CueRules()
        self._held: list[Caption] = []
        self._last_end_s: float | None = None

    def add(self, caption: Caption) -> list[Cue]:
        """Take one final; return the cues it settles (those of the utterance before)."""
        if not caption.text:
            return []
        held = self._held
        settled: list[Cue] = []
        if held and (
            caption.utterance < 0
            or caption.utterance != held[-1].utterance
            or caption.speaker != held[-1].speaker
        ):
            settled = self._settle(until_s=caption.start_s)
        self._held.append(caption)
        return settled

    def flush(self) -> list[Cue]:
        """The cues of what is still held (the end of the session)."""
        return self._settle(until_s=None)

    def _settle(self, until_s: float | None) -> list[Cue]:
        pieces: list[Cue] = []
        for caption in join_pieces(self._held):
            pieces.extend(_split(caption, self.rules))
        self._held = []
        timed = _time(pieces, self.rules, self._last_end_s, until_s)
        if timed:
            self._last_end_s = timed[-1].end_s
        return timed


def join_pieces(captions: list[Caption]) -> list[Caption]:
    """Non-empty captions in order, consecutive ones of the same utterance (and speaker)
    made one (words sent as finals mid-sentence), so a subtitle never flashes two words
    at a time."""
    joined: list[Caption] = []
    for caption in captions:
        if not caption.text:
            continue
        last = joined[-1] if joined else None
        same_line = last and last.utterance == caption.utterance and last.speaker == caption.speaker
        if last and same_line and caption.utterance >= 0:
            space = "" if caption.continues_word else " "
            joined[-1] = replace(
                last,
                text=f"{last.text}{space}{caption.text}",
                source=f"{last.source}{space}{caption.source}",
                end_s=max(last.end_s, caption.end_s),
                words=last.words + caption.words,
            )
        else:
            joined.append(caption)
    return joined


def break_lines(text: str, rules: CueRules | None = None) -> str:
    """``text`` (which fits ``rules.lines`` lines) broken where the sense breaks."""
    rules = rules or CueRules()
    words = text.split()
    if len(text) <= rules.line_chars or len(words) < 2:
        return text
    best: tuple[float, int] | None = None
    for cut in range(1, len(words)):
        top, bottom = " ".join(words[:cut]), " ".join(words[cut:])
        if len(top) > rules.line_chars or len(bottom) > rules.line_chars:
            continue
        score = _break_cost(words[cut - 1], words[cut], len(top), len(bottom))
        if best is None or score < best[0]:
            best = (score, cut)
    if best is None:  # no break keeps both lines short enough: the widest fit
        return text
    cut = best[1]
    return " ".join(words[:cut]) + "\n" + " ".join(words[cut:])


def _break_cost(last: str, first: str, top: int, bottom: int) -> float:
    """Lower is better: balanced lines, broken where the sense breaks."""
    cost = abs(top - bottom) / 10
    if top > bottom:
        cost += 0.5  # viewers read a bottom-heavy pair more easily
    if re.search(r"[.!?;:,]$", last):
        cost -= 4 if re.search(r"[.!?]$", last) else 3
    elif _norm(first) in _OPENS_A_PHRASE:
        cost -= 2
    if _norm(last) in _BINDS_TO_NEXT and not re.search(r"\W$", last):
        cost += 6
    return cost


def _split(caption: Caption, rules: CueRules) -> list[Cue]:
    """Cut one caption into cues of at most two lines and ``max_s`` seconds."""
    words = caption.text.split()
    if not words:
        return []
    times = word_spans(caption, words)
    limit = rules.line_chars * rules.lines
    groups: list[list[int]] = [[]]
    length = 0
    for index, word in enumerate(words):
        group = groups[-1]
        extra = len(word) + (1 if group else 0)
        too_long = group and times[index][1] - times[group[0]][0] > rules.max_s
        if group and (length + extra > limit or too_long or not _fits(words, group, index, rules)):
            carried = _after_last_sentence_break(words, group)
            del group[len(group) - len(carried) :]
            groups.append(carried)
            length = sum(len(words[i]) + 1 for i in carried)
            extra = len(word) + (1 if carried else 0)
        groups[-1].append(index)
        length += extra
    return [
        Cue(
            times[g[0]][0],
            times[g[-1]][1],
            break_lines(" ".join(words[i] for i in g), rules),
            caption.speaker,
        )
        for g in groups
    ]


def _after_last_sentence_break(words: list[str], group: list[int]) -> list[int]:
    """The words of a full cue after its last punctuation, to start the next cue with,
    when that punctuation falls in the cue's second half: a cue then ends where a
    sentence or clause does."""
    for position in range(len(group) - 2, len(group) // 2 - 1, -1):
        if re.search(r"[.!?;:,]$", words[group[position]]):
            return group[position + 1 :]
    return []


def _fits(words: list[str], group: list[int], index: int, rules: CueRules) -> bool:
    """Whether the cue's words plus ``words[index]`` can still be broken into its lines."""
    text = " ".join([*(words[i] for i in group), words[index]])
    return rules.lines < 2 or len(text) <= rules.line_chars or "\n" in break_lines(text, rules)


def word_spans(caption: Caption, words: list[str]) -> list[tuple[float, float]]:
    """Each word's span: the recogniser's times, or the caption's shared by characters."""
    if len(caption.words) == len(words):
        return [(w.start_s, max(w.end_s, w.start_s)) for w in caption.words]
    total = max(1, sum(len(w) + 1 for w in words))
    span = max(0.0, caption.end_s - caption.start_s)
    out, before = [], 0
    for word in words:
        start = caption.start_s + span * before / total
        before += len(word) + 1
        out.append((start, caption.start_s + span * before / total))
    return out


def _time(
    items: list[Cue], rules: CueRules, after_s: float | None, until_s: float | None
) -> list[Cue]:
    """Lengthen cues to be read (minimum duration, reading speed) into the silence
    after them, keep the gap before the next cue, and never exceed ``max_s``. The cues
    come after one that ended at ``after_s`` and before one that starts at ``until_s``."""
    timed: list[Cue] = []
    for index, cue in enumerate(items):
        previous_end = timed[-1].end_s if timed else after_s
        start = (
            cue.start_s if previous_end is None else max(cue.start_s, previous_end + rules.gap_s)
        )
        wanted = max(rules.min_s, len(cue.text.replace("\n", " ")) / rules.max_cps)
        end = max(cue.end_s, start + wanted)
        following = items[index + 1].start_s if index + 1 < len(items) else until_s
        if following is not None:
            end = min(end, following - rules.gap_s)
        end = min(max(end, start + 0.2), start + rules.max_s)
        if end - start < rules.min_s and timed:
            # Squeezed by the next cue: take the time from the cue before, which can
            # spare it, rather than flash this one.
            previous = timed[-1]
            start = max(previous.start_s + rules.min_s + rules.gap_s, end - rules.min_s)
            timed[-1] = replace(previous, end_s=min(previous.end_s, start - rules.gap_s))
        timed.append(replace(cue, start_s=start, end_s=end))
    return timed


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())
