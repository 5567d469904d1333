"""Transcript formats: SRT/VTT structure, readable cue lengths, word timing."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from canvascap.captions.formats import to_json, to_srt, to_text, to_vtt
from canvascap.captions.subtitles import break_lines, cues
from canvascap.pipeline.types import Caption, Word


def caption(cid: int, text: str, start: float, end: float, timed: bool = False) -> Caption:
    words: tuple[Word, ...] = ()
    if timed:
        parts = text.split()
        step = (end - start) / len(parts)
        words = tuple(
            Word(w, start + i * step, start + (i + 1) * step) for i, w in enumerate(parts)
        )
    return Caption(cid, 3, True, text, text, "en", start, end, 0, len(text), words)


def test_srt_numbers_cues_and_uses_comma_milliseconds() -> None:
    srt = to_srt([caption(1, "second", 3.5, 4.5), caption(0, "first", 0.0, 1.0)])
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,000\nfirst\n\n2\n00:00:03,500")


def test_vtt_header_and_dot_milliseconds() -> None:
    vtt = to_vtt([caption(0, "hello", 61.2, 62.2)])
    assert vtt.startswith("WEBVTT\n\n00:01:01.200 --> 00:01:02.200\nhello\n")


def test_long_caption_becomes_cues_of_two_short_lines_timed_by_words() -> None:
    text = " ".join(f"word{i}" for i in range(40))
    result = cues([caption(0, text, 10.0, 30.0, timed=True)])
    assert len(result) > 1
    for cue in result:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)
        assert cue.end_s - cue.start_s <= 7.0
    assert result[0].start_s == 10.0 and result[-1].end_s >= 30.0
    assert all(
        b.start_s - a.end_s >= 2 / 24 - 1e-9 for a, b in zip(result, result[1:], strict=False)
    )
    assert " ".join(c.text.replace("\n", " ") for c in result) == text


def test_a_cue_too_short_to_read_stays_longer_but_never_into_the_next() -> None:
    quick = [caption(0, "Yes.", 1.0, 1.3), caption(1, "And then we left.", 3.0, 4.0)]
    first, second = cues(quick)
    assert first.end_s - first.start_s == pytest.approx(5 / 6)  # the minimum duration
    crowded = [caption(0, "Yes.", 1.0, 1.3), caption(1, "No.", 1.5, 2.5)]
    first, second = cues(crowded)
    assert second.start_s - first.end_s == pytest.approx(2 / 24)  # two frames apart


def test_reading_speed_is_bought_with_the_silence_after_a_cue() -> None:
    text = "It is of the first importance that the letters be fine in form"  # 62 chars
    (cue,) = cues([caption(0, text, 0.0, 2.0)])
    assert cue.end_s == pytest.approx(62 / 17)  # 17 characters a second at most


def test_lines_break_where_the_sense_breaks() -> None:
    expected = {
        # after punctuation when it fits, else before a preposition, not after "the"
        "Thank you all for coming, and see you next week at the same time.": (
            "Thank you all for coming,\nand see you next week at the same time."
        ),
        "First we look at the numbers from last quarter, then at the plans.": (
            "First we look at the numbers\nfrom last quarter, then at the plans."
        ),
        "The invention of movable metal letters in the middle of the century": (
            "The invention of movable metal letters\nin the middle of the century"
        ),
    }
    for text, broken in expected.items():
        assert break_lines(text) == broken
    assert break_lines("I think that we should go and see the new exhibition today") == (
        "I think that we should go\nand see the new exhibition today"
    )
    # never an article, possessive or preposition at the end of a line
    broken = break_lines("She gave the small wooden box to her younger brother yesterday")
    assert not re.search(r"\b(the|to|her|a)\n", broken), broken


def test_text_and_json_skip_retracted_captions() -> None:
    items = [caption(0, "kept", 0, 1), caption(1, "", 1, 2)]
    assert to_text(items) == "kept\n"
    assert [c["text"] for c in json.loads(to_json(items))["captions"]] == ["kept"]
    assert len(re.findall("-->", to_srt(items))) == 1


def test_pieces_of_one_utterance_make_one_cue() -> None:
    pieces = [
        replace(caption(0, "ask not what", 1.0, 2.0), utterance=5),
        replace(caption(1, "your country", 2.0, 3.0), utterance=5),
        replace(caption(2, "next sentence", 4.0, 5.0), utterance=6),
    ]
    result = cues(pieces)
    assert [c.text for c in result] == ["ask not what your country", "next sentence"]
    assert (result[0].start_s, result[0].end_s) == (1.0, 3.0)
