"""Transcript formats: plain text, JSON lines, SRT and WebVTT, as pure functions.

Long captions are split into cues a viewer can read: at most two lines of
``line_chars`` each, cut at word boundaries and timed from word timestamps when the
recogniser gave them (otherwise the caption's time is shared out by character count).
Pieces of one utterance (words sent as finals mid-sentence) are joined first, so a
subtitle never flashes two words at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace

from canvascap.pipeline.types import Caption

__all__ = ["Cue", "caption_record", "cues", "to_json", "to_srt", "to_text", "to_vtt"]


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle cue."""

    start_s: float
    end_s: float
    text: str


def caption_record(caption: Caption) -> dict[str, object]:
    """A final caption as one JSON-ready record (the transcript's ``.jsonl`` line)."""
    return {
        "id": caption.id,
        "start_s": round(caption.start_s, 3),
        "end_s": round(caption.end_s, 3),
        "lang": caption.lang,
        "role": str(caption.role),
        "text": caption.text,
        "source": caption.source,
        "words": [
            {
                "text": w.text,
                "start_s": round(w.start_s, 3),
                "end_s": round(w.end_s, 3),
                "probability": round(w.probability, 3),
            }
            for w in caption.words
        ],
    }


def cues(captions: Iterable[Caption], line_chars: int = 42, lines: int = 2) -> list[Cue]:
    """Split finals into readable cues, in time order."""
    limit = line_chars * lines
    result: list[Cue] = []
    for caption in _join_pieces(sorted(captions, key=lambda c: (c.start_s, c.id))):
        result.extend(_split(caption, limit, line_chars))
    return result


def _join_pieces(captions: list[Caption]) -> list[Caption]:
    """Non-empty captions in order, consecutive ones of the same utterance made one."""
    joined: list[Caption] = []
    for caption in captions:
        if not caption.text:
            continue
        last = joined[-1] if joined else None
        if last and caption.utterance >= 0 and caption.utterance == last.utterance:
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


def _split(caption: Caption, limit: int, line_chars: int) -> list[Cue]:
    words = caption.text.split()
    timed = caption.words if len(caption.words) == len(words) else None
    groups: list[list[int]] = [[]]
    length = 0
    for index, word in enumerate(words):
        extra = len(word) + (1 if groups[-1] else 0)
        if groups[-1] and length + extra > limit:
            groups.append([])
            length, extra = 0, len(word)
        groups[-1].append(index)
        length += extra
    total_chars = max(1, sum(len(w) + 1 for w in words))
    span = caption.end_s - caption.start_s
    out: list[Cue] = []
    chars_before = 0
    for group in groups:
        text = " ".join(words[i] for i in group)
        if timed:
            start, end = timed[group[0]].start_s, timed[group[-1]].end_s
        else:
            start = caption.start_s + span * chars_before / total_chars
            chars_before += len(text) + 1
            end = caption.start_s + span * chars_before / total_chars
        out.append(Cue(start, max(end, start + 0.2), _wrap(text, line_chars)))
    return out


def _wrap(text: str, line_chars: int) -> str:
    if len(text) <= line_chars:
        return text
    words = text.split()
    best = min(range(1, len(words)), key=lambda k: abs(len(" ".join(words[:k])) - len(text) / 2))
    return " ".join(words[:best]) + "\n" + " ".join(words[best:])


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(captions: Iterable[Caption]) -> str:
    """SubRip subtitles."""
    blocks = [
        f"{n}\n{_stamp(c.start_s, ',')} --> {_stamp(c.end_s, ',')}\n{c.text}\n"
        for n, c in enumerate(cues(captions), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(captions: Iterable[Caption]) -> str:
    """WebVTT subtitles."""
    blocks = [
        f"{_stamp(c.start_s, '.')} --> {_stamp(c.end_s, '.')}\n{c.text}\n" for c in cues(captions)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_text(captions: Iterable[Caption]) -> str:
    """One line per caption."""
    return "".join(f"{c.text}\n" for c in sorted(captions, key=lambda c: c.start_s) if c.text)


def to_json(captions: Iterable[Caption]) -> str:
    """All finals as one JSON document."""
    records = [caption_record(c) for c in sorted(captions, key=lambda c: c.start_s) if c.text]
    return json.dumps({"captions": records}, ensure_ascii=False, indent=2) + "\n"
