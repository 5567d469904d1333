"""Transcript formats: plain text, JSON lines, SRT and WebVTT, as pure functions.

Cues come from ``canvascap.captions.subtitles``, which keeps the subtitle guidelines
(two lines of 42 characters, reading speed, duration, gaps). The cue renderers are
separate so a transcript can append cues to its files as finals arrive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from canvascap.captions.subtitles import Cue, CueRules, cues
from canvascap.pipeline.types import Caption, Role, Word

__all__ = [
    "VTT_HEADER",
    "caption_from_record",
    "caption_record",
    "srt_cue",
    "to_json",
    "to_srt",
    "to_text",
    "to_vtt",
    "vtt_cue",
]

VTT_HEADER = "WEBVTT\n\n"


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
        "utterance": caption.utterance,
        "continues_word": caption.continues_word,
        "speaker": caption.speaker,
        "stand_in": caption.stand_in,
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


def caption_from_record(record: dict[str, Any], spoken: bool) -> Caption:
    """A caption read back from a transcript line (``caption_record``'s inverse).

    ``spoken`` gives the role for lines written before captions had one.
    """
    role = (
        Role(record["role"]) if "role" in record else (Role.SPOKEN if spoken else Role.TRANSLATION)
    )
    return Caption(
        id=int(record["id"]),
        rev=0,
        final=True,
        source=str(record.get("source", record["text"])),
        text=str(record["text"]),
        lang=str(record["lang"]),
        start_s=float(record["start_s"]),
        end_s=float(record["end_s"]),
        origin_ns=0,
        words=tuple(
            Word(str(w["text"]), float(w["start_s"]), float(w["end_s"]), float(w["probability"]))
            for w in record.get("words", ())
        ),
        utterance=int(record.get("utterance", -1)),
        continues_word=bool(record.get("continues_word", False)),
        role=role,
        speaker=str(record.get("speaker", "")),
        stand_in=bool(record.get("stand_in", False)),
    )


def srt_cue(number: int, cue: Cue) -> str:
    """One SubRip cue block, numbered, with its blank line."""
    text = f"{cue.speaker}: {cue.text}" if cue.speaker else cue.text
    return f"{number}\n{_stamp(cue.start_s, ',')} --> {_stamp(cue.end_s, ',')}\n{text}\n\n"


def vtt_cue(cue: Cue) -> str:
    """One WebVTT cue block, with its blank line."""
    # A voice span names the speaker; its annotation may not hold "<", ">" or "&".
    voice = re.sub(r"[<>&\n]", "", cue.speaker).strip()
    text = f"<v {voice}>{cue.text}" if voice else cue.text
    return f"{_stamp(cue.start_s, '.')} --> {_stamp(cue.end_s, '.')}\n{text}\n\n"


def to_srt(captions: Iterable[Caption], rules: CueRules | None = None) -> str:
    """SubRip subtitles."""
    return "".join(srt_cue(n, c) for n, c in enumerate(cues(captions, rules), start=1))


def to_vtt(captions: Iterable[Caption], rules: CueRules | None = None) -> str:
    """WebVTT subtitles."""
    return VTT_HEADER + "".join(vtt_cue(c) for c in cues(captions, rules))


def to_text(captions: Iterable[Caption]) -> str:
    """One line per caption, after who said it when that is known."""
    ordered = sorted(captions, key=lambda c: c.start_s)
    return "".join(
        f"{c.speaker}: {c.text}\n" if c.speaker else f"{c.text}\n" for c in ordered if c.text
    )


def to_json(captions: Iterable[Caption]) -> str:
    """All finals as one JSON document."""
    records = [caption_record(c) for c in sorted(captions, key=lambda c: c.start_s) if c.text]
    return json.dumps({"captions": records}, ensure_ascii=False, indent=2) + "\n"


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
