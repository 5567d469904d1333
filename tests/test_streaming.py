"""Live behaviour with the real model, audio paced at 1x as from a microphone."""

from __future__ import annotations

from collections import defaultdict

import pytest

from canvascap.testing import caption_file


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


@pytest.mark.slow
async def test_low_latency_preset_makes_words_final_while_the_sentence_goes_on(data_dir) -> None:
    clip = data_dir / "en" / "ljspeech" / "LJ001-0014.wav"  # one 10 s sentence
    tap, ctx = await caption_file(str(clip), realtime=True, config="low-latency")
    started_ns = ctx.report.audio_started_ns
    assert started_ns is not None, "the file source reports when audio started"
    finals = [s for s in tap.seen if s.caption.final and s.caption.text]
    assert len(finals) >= 3, "the sentence becomes final in pieces"
    assert finals[0].at_ns - started_ns < 5e9, "the first piece is final mid-sentence"
    text = " ".join(s.caption.text for s in finals).lower()
    # a piece may end inside a word ("crafts" + "men"): the split shows, nothing is lost
    assert "middle ages" in text and "craftsmen" in text.replace(" ", "")
    words = [w.strip(".,") for w in text.split()]
    assert all(a != b for a, b in zip(words, words[1:], strict=False)), "a word sent twice"


def test_whisper_tells_how_sure_it_is_of_each_word_of_a_partial(jfk) -> None:
    from faster_whisper import decode_audio

    from canvascap.stages.recognition.faster_whisper import (
        FasterWhisperOptions,
        FasterWhisperTranscriber,
    )

    audio = decode_audio(str(jfk))[: 16_000 * 6]
    options = FasterWhisperOptions(cpu_threads=1, commit_confidence=0.5)
    transcriber = FasterWhisperTranscriber(options)
    partial = transcriber.transcribe(audio, prompt="", prefix="", final=False, language="en")
    confidence = partial.word_confidence
    assert len(confidence) == len(partial.text.split()) >= 5
    assert all(0 < p <= 1 for p in confidence)
    assert sorted(confidence)[len(confidence) // 2] >= 0.5, "clear speech is mostly sure"
    # forced words keep their place, so confidences still line up with the text
    forced = transcriber.transcribe(
        audio, prompt="", prefix="And so my", final=False, language="en"
    )
    assert len(forced.word_confidence) == len(forced.text.split())
    final = transcriber.transcribe(audio, prompt="", prefix="", final=True, language="en")
    assert final.text and final.word_confidence == ()  # finals decide freely, nothing to gate
    # commit_sure alone needs the probabilities too
    sure_only = FasterWhisperTranscriber(FasterWhisperOptions(cpu_threads=1, commit_sure=0.9))
    alone = sure_only.transcribe(audio, prompt="", prefix="", final=False, language="en")
    assert len(alone.word_confidence) == len(alone.text.split()) >= 5
