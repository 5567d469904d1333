"""Voice activity segmentation on real speech spliced with digital silence."""

from __future__ import annotations

import numpy as np

from canvascap.captions.audio import SAMPLE_RATE, float_to_pcm16
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import run_stage
from canvascap.pipeline.types import AudioFrame, Utterance
from canvascap.stages.recognition.vad import Segmenter, VadOptions, VadStage
from tests.conftest import decode


def frames(audio: np.ndarray, frame_ms: int = 20) -> list[AudioFrame]:
    step = SAMPLE_RATE * frame_ms // 1000
    return [
        AudioFrame(float_to_pcm16(audio[i : i + step]), SAMPLE_RATE, i / SAMPLE_RATE, i)
        for i in range(0, len(audio) - step + 1, step)
    ]


async def segment(audio: np.ndarray, **options: object) -> list[Utterance]:
    stage = VadStage(VadOptions(**options), Context(session="t"))
    return await run_stage(stage, frames(audio))


async def test_speech_between_silences_gives_one_utterance_with_its_boundaries(jfk) -> None:
    speech = decode(jfk)[: 5 * SAMPLE_RATE]  # "And so my fellow Americans, ask not"
    silence = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    finals = [u for u in await segment(np.concatenate([silence, speech, silence])) if u.final]
    assert len(finals) == 1
    start_s = finals[0].start_s
    assert 2.1 >= start_s >= 1.6  # speech starts at 2.0 s, pre-roll 0.3 s
    assert 6.5 <= finals[0].end_s <= 7.4  # ends at 7.0 s plus at most the kept tail


async def test_partials_grow_and_precede_their_final(jfk) -> None:
    utterances = await segment(decode(jfk)[: 5 * SAMPLE_RATE], partial_every_ms=500)
    first = [u for u in utterances if u.id == 0]
    assert len(first) >= 5 and not any(u.final for u in first[:-1]) and first[-1].final
    lengths = [len(u.audio) for u in first]
    assert lengths == sorted(lengths)
    assert [u.rev for u in first] == list(range(len(first)))


async def test_long_speech_is_split_at_the_maximum_length(jfk) -> None:
    speech = decode(jfk)
    utterances = await segment(
        np.concatenate([speech, speech]), max_segment_s=4, partial_every_ms=0
    )
    assert all(u.final for u in utterances)
    assert all(u.end_s - u.start_s <= 4.01 for u in utterances)
    assert len(utterances) >= 4


async def test_silence_and_a_click_give_nothing() -> None:
    audio = np.zeros(3 * SAMPLE_RATE, dtype=np.float32)
    audio[SAMPLE_RATE : SAMPLE_RATE + 80] = 0.9  # a 5 ms click
    assert await segment(audio) == []


async def test_end_of_stream_closes_the_open_segment(jfk) -> None:
    speech = decode(jfk)[: 3 * SAMPLE_RATE]  # cut mid-sentence: no trailing silence
    utterances = await segment(speech, partial_every_ms=0)
    assert len(utterances) == 1 and utterances[0].final
    assert utterances[0].end_s == 3.0


def test_segmenter_keeps_only_the_configured_tail_of_silence() -> None:
    segmenter = Segmenter(VadOptions(hangover_ms=600, tail_ms=200, start_ms=20, min_voiced_ms=0))
    frame = np.ones(320, dtype=np.float32)
    out = []
    for voiced in [True] * 10 + [False] * 40:
        out += segmenter.push(frame, voiced)
    final = [s for s in out if s.final][0]
    assert final.end_sample - final.start_sample == (10 + 10) * 320


async def test_a_brief_pause_after_a_short_fragment_does_not_end_the_utterance(jfk) -> None:
    speech, pause = decode(jfk), np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.float32)
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)

    async def cut_after(seconds: float, short_segment_ms: int) -> int:
        at = int(seconds * SAMPLE_RATE)
        audio = np.concatenate([silence, speech[:at], pause, speech[at : 6 * SAMPLE_RATE]])
        options = {"hangover_ms": 200, "partial_every_ms": 0}
        utterances = await segment(audio, short_segment_ms=short_segment_ms, **options)
        return len(utterances)

    # 1.5 s of speech, then 0.4 s of silence: a fragment, kept open for what follows
    assert await cut_after(1.5, short_segment_ms=0) == 2
    assert await cut_after(1.5, short_segment_ms=2000) == 1
    # 3 s of speech: long enough that the short pause ends it
    assert await cut_after(3.0, short_segment_ms=2000) == 2
