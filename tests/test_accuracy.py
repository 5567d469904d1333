"""Real faster-whisper (embedded tiny.en) on real speech and on non-speech audio."""

from __future__ import annotations

from pathlib import Path

import jiwer
import numpy as np
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from canvascap.captions.subtitles import CueRules, cues
from canvascap.testing import caption_file
from tests.conftest import manifest, shared_manifest, write_wav

normalize = EnglishTextNormalizer()


@pytest.mark.slow
async def test_english_finals_word_error_rate_and_subtitle_rules(data_dir) -> None:
    references, hypotheses, subtitles = [], [], []
    for clip in (c for c in manifest() if c.lang == "en"):
        tap, _ = await caption_file(str(clip.path), partials=False)
        references.append(normalize(clip.reference))
        hypotheses.append(normalize(" ".join(c.text for c in tap.finals)))
        subtitles.append(cues(tap.finals))
    wer = jiwer.wer(references, hypotheses)
    print(f"WER over {len(references)} English clips: {wer:.3f}")
    assert len(references) >= 20
    assert wer <= 0.10
    # The subtitles of these real transcripts keep the guidelines (docs: subtitles.py).
    rules = CueRules()
    every = [cue for clip in subtitles for cue in clip]
    for cue in every:
        lines = cue.text.split("\n")
        assert len(lines) <= rules.lines and all(len(line) <= rules.line_chars for line in lines)
        assert rules.min_s - 1e-6 <= cue.end_s - cue.start_s <= rules.max_s + 1e-6, cue
    for clip in subtitles:
        assert all(
            b.start_s - a.end_s >= rules.gap_s - 1e-6 for a, b in zip(clip, clip[1:], strict=False)
        )
    readable = [c for c in every if len(c.text) / (c.end_s - c.start_s) <= rules.max_cps + 1e-6]
    print(f"{len(every)} cues, {len(readable)} within {rules.max_cps:g} characters a second")
    assert len(readable) >= 0.85 * len(every)  # dense reading cannot all be slowed down


async def no_captions_on(paths: list[Path]) -> None:
    for path in paths:
        # partials on: a phantom partial would count as much as a phantom final
        tap, _ = await caption_file(str(path), partials=True)
        assert tap.seen == [], (path.name, [s.caption.text for s in tap.seen])


@pytest.mark.slow
async def test_nonspeech_produces_no_caption_at_all(data_dir, tmp_path) -> None:
    rng = np.random.default_rng(3)
    loud = write_wav(tmp_path / "loud-noise.wav", rng.normal(0, 0.3, 16_000 * 8).clip(-1, 1))
    clips = [c.path for c in manifest() if c.kind == "nonspeech"]
    assert {p.name for p in clips} >= {"zero.wav", "n.wav", "glacier-bay-humpback.ogg"}
    await no_captions_on([*clips, loud])


@pytest.mark.slow
async def test_music_and_recorded_noise_produce_no_caption_either(shared_dir) -> None:
    # The instrumental music (CC-BY) and the recorded loud noise (Apache-2.0) of the
    # development data set, which may not be copied into the project.
    wanted = {"Kevin_MacLeod_-_Vibe_Ace.ogg", "empty.wav"}
    clips = [c.path for c in shared_manifest() if c.path.name in wanted]
    assert len(clips) == len(wanted)
    await no_captions_on(clips)
