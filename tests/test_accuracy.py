"""Real faster-whisper (embedded tiny.en) on real speech and on non-speech audio."""

from __future__ import annotations

import jiwer
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from canvascap.testing import caption_file
from tests.conftest import manifest

normalize = EnglishTextNormalizer()


@pytest.mark.slow
async def test_english_finals_word_error_rate_at_most_ten_percent(data_dir) -> None:
    references, hypotheses = [], []
    for clip in (c for c in manifest() if c.lang == "en"):
        tap, _ = await caption_file(str(clip.path), partials=False)
        references.append(normalize(clip.reference))
        hypotheses.append(normalize(" ".join(c.text for c in tap.finals)))
    wer = jiwer.wer(references, hypotheses)
    print(f"WER over {len(references)} English clips: {wer:.3f}")
    assert len(references) >= 20
    assert wer <= 0.10


@pytest.mark.slow
async def test_nonspeech_produces_no_caption_at_all(data_dir) -> None:
    for clip in (c for c in manifest() if c.kind == "nonspeech"):
        # partials on: a phantom partial would count as much as a phantom final
        tap, _ = await caption_file(str(clip.path), partials=True)
        assert tap.seen == [], (clip.path.name, [s.caption.text for s in tap.seen])
