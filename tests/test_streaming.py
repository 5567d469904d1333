"""Live behaviour with the real model, audio paced at 1x as from a microphone."""

from __future__ import annotations

from collections import defaultdict

import pytest

from pipeline.testing import caption_file


@pytest.mark.slow
async def test_partials_precede_finals_and_stable_words_never_change(data_dir) -> None:
    clip = data_dir / "en" / "ljspeech" / "LJ001-0014.wav"  # one 10 s sentence
    tap, _ = await caption_file(str(clip), realtime=True)
    keys = [(s.caption.id, s.caption.rev) for s in tap.seen]
    assert keys == sorted(set(keys)), "(id, rev) must only increase"

    by_id = defaultdict(list)
    for seen in tap.seen:
        by_id[seen.caption.id].append(seen)
    assert by_id, "no captions"
    for revisions in by_id.values():
        assert revisions[-1].caption.final, "every utterance ends with a final"
        assert not any(s.caption.final for s in revisions[:-1])
        partials = [s.caption for s in revisions[:-1]]
        for earlier, later in zip(partials, partials[1:], strict=False):
            stable = earlier.text[: earlier.stable_chars]
            assert later.text.startswith(stable), (earlier.text, later.text)
            assert later.stable_chars >= earlier.stable_chars

    longest = max(by_id.values(), key=len)
    partial_times = [s.at_ns for s in longest if not s.caption.final]
    assert len(partial_times) >= 4, "a 10 s sentence shows several partials"
    assert partial_times[0] < longest[-1].at_ns
    final_text = longest[-1].caption.text.lower()
    assert "middle ages" in final_text and "craftsmen" in final_text
