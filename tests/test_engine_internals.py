"""The faster-whisper and CTranslate2 internals canvascap reaches into are still there.

canvascap shortens the encoder's window (``ShortContextWhisper.encode``) and reads each
token's probability through a proxy of CTranslate2's model (``_TokenScores``). Neither
is public API, so a new release could break them without an error: decodes would
silently cost three times the CPU, or every word would be committed without its
probability. These tests fail loudly instead, and ``pyproject.toml`` declares the
versions they pass with.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from packaging.requirements import Requirement

from canvascap.presets import demo_clip
from canvascap.stages.recognition.faster_whisper import (
    FasterWhisperOptions,
    FasterWhisperTranscriber,
    encoder_frames,
)

ENGINES = ("faster-whisper", "ctranslate2")


def test_installed_engines_are_in_the_declared_range() -> None:
    declared = {
        req.name: req.specifier
        for req in map(Requirement, importlib.metadata.requires("canvascap") or [])
        if req.name in ENGINES and req.marker is None
    }
    assert set(declared) == set(ENGINES), "pyproject.toml must bound both engines"
    for name in ENGINES:
        installed = importlib.metadata.version(name)
        assert declared[name].contains(installed), (
            f"{name} {installed} is outside {declared[name]}: check the internals below, "
            "then widen the range in pyproject.toml"
        )


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    from faster_whisper import decode_audio

    return decode_audio(str(demo_clip()))[: 16_000 * 3]


def test_the_encoder_sees_only_the_short_window(speech) -> None:
    transcriber = FasterWhisperTranscriber(FasterWhisperOptions(cpu_threads=1))
    proxy = transcriber.model.model
    frames: list[int] = []
    original = proxy.encode

    def spy(features, *args, **kwargs):
        frames.append(features.shape[-1])
        return original(features, *args, **kwargs)

    proxy.encode = spy
    transcriber.transcribe(speech, prompt="", prefix="", final=False, language="en")
    assert frames, "faster-whisper no longer encodes through WhisperModel.encode"
    # 3 s of audio plus 2 s, at least 10 s: 1000 mel frames instead of the padded 3000
    assert frames == [1000], f"the short encoder window is not applied: {frames}"


def test_each_token_of_a_greedy_partial_gets_its_probability(speech) -> None:
    options = FasterWhisperOptions(cpu_threads=1, commit_confidence=0.5)
    transcriber = FasterWhisperTranscriber(options)
    result = transcriber.transcribe(speech, prompt="", prefix="", final=False, language="en")
    scores = transcriber.model.model.last
    assert transcriber.model.model.supported, "CTranslate2 no longer returns token logits"
    assert scores and all(0 < p <= 1 for p in scores)
    assert len(result.word_confidence) == len(result.text.split()) > 0


def test_short_windows_come_in_few_shapes() -> None:
    # Half-second steps keep the number of encoder input shapes (and the compiled
    # kernels CTranslate2 keeps for each) small over hours of speech.
    frames = {encoder_frames(seconds / 100) for seconds in range(0, 3000)}
    assert frames == set(range(1000, 3001, 50))
    assert encoder_frames(0.4) == 1000  # at least 10 s: with less, Whisper loops
    assert encoder_frames(9.26) == 1150  # 11.26 s rounded up to the next half second
    assert encoder_frames(40.0) == 3000
