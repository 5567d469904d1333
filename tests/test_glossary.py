"""The glossary in recognition: names and terms come out right, everything else as before.

The spoken clip is generated with espeak-ng (no real speech is needed to show that a
name is recognised); the English set is the vendored real speech.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import jiwer
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from canvascap.stages.glossary import Glossary, TermFixer, load_glossary, recognition_prompt
from canvascap.testing import caption_file
from tests.conftest import manifest

COMMON = frozenset("the a to on of and our gate canvas camp captions please ask service".split())
TERMS = ("Siobhan", "Kubernetes", "canvascap", "Kate")
SPOKEN = (
    "Please ask Siobhan to deploy the service on Kubernetes. "
    "Our product canvascap captions meetings."
)


def fixer(similarity: float = 0.85) -> TermFixer:
    return TermFixer(TERMS, lambda word: word in COMMON, similarity)


def test_words_that_nearly_spell_a_term_become_the_term() -> None:
    text, fixed = fixer().fix("Our product Canvas Camp captions meetings, Kubernettes!")
    assert text == "Our product canvascap captions meetings, Kubernetes!"
    assert fixed == ["canvascap", "Kubernetes"]


def test_common_words_and_terms_already_right_are_left_alone() -> None:
    for text in (
        "Close the gate on the way out.",  # one everyday word is never a term ("Kate")
        "Please ask Siobhan to deploy it.",  # not "Siobhan" swallowing "to"
        "Ask kubernetes to schedule it.",  # right but in lower case: as said
        "It was the canvas, calm and blue.",
    ):
        assert fixer().fix(text) == (text, []), text


def test_a_looser_likeness_only_suspects_a_term() -> None:
    assert fixer().fix("deploy on Qber needs")[1] == []  # too far to replace
    assert fixer().suspects("deploy on Qber needs")  # near enough to decode again
    assert not fixer().suspects("the earliest book printed with movable types")


def test_the_glossary_file_gives_the_terms_and_the_prompt(tmp_path) -> None:
    path = tmp_path / "terms.yaml"
    path.write_text("keep: [Siobhan, OBS]\ntranslate: {stream: {es: directo}, OBS: {de: OBS}}\n")
    glossary = load_glossary(str(path))
    assert glossary.terms == ("Siobhan", "OBS", "stream")
    assert recognition_prompt(glossary) == "Siobhan, OBS, stream."
    assert recognition_prompt(Glossary()) == ""


@pytest.fixture(scope="module")
def spoken_terms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("glossary") / "terms.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SPOKEN], check=True)
    return path


@pytest.fixture(scope="module")
def terms_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("glossary") / "terms.yaml"
    path.write_text("keep: [Siobhan, Kubernetes, canvascap]\n", encoding="utf-8")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("preset", [None, "low-latency"])
async def test_names_and_terms_come_out_right_with_the_glossary(
    preset, spoken_terms, terms_file
) -> None:
    plain, _ = await caption_file(str(spoken_terms), config=preset)
    heard = " ".join(c.text for c in plain.finals)
    assert not {"Siobhan", "Kubernetes", "canvascap"} & set(heard.replace(".", "").split()), (
        f"tiny.en no longer mishears the clip, so it shows nothing: {heard}"
    )
    tap, ctx = await caption_file(
        str(spoken_terms), config=preset, overrides=[f"asr.glossary={terms_file}"]
    )
    text = " ".join(c.text for c in tap.finals)
    for term in ("Siobhan", "Kubernetes", "canvascap"):
        assert term in text, text
    assert "Please ask Siobhan to deploy the service on" in text  # nothing swallowed
    counters = ctx.metrics.snapshot()["counters"]
    assert counters["glossary.used.Kubernetes"] == 1
    assert counters["glossary.fixed.canvascap"] == 1  # "Canvas Camp" set right
    shown = [s.caption for s in tap.seen if not s.caption.final and s.caption.text]
    assert all(c.stable_chars <= len(c.text) for c in shown)


@pytest.mark.slow
async def test_a_glossary_leaves_the_english_sets_recognition_unchanged(terms_file) -> None:
    normalize = EnglishTextNormalizer()
    clips = [c for c in manifest() if c.lang == "en"]
    references = [normalize(c.reference) for c in clips]
    results = []
    for overrides in ([], [f"asr.glossary={terms_file}"]):
        hypotheses = []
        for clip in clips:
            tap, _ = await caption_file(str(clip.path), partials=False, overrides=overrides)
            hypotheses.append(normalize(" ".join(c.text for c in tap.finals)))
        results.append(hypotheses)
    without, with_glossary = (jiwer.wer(references, h) for h in results)
    print(f"WER without a glossary {without:.4f}, with one {with_glossary:.4f}")
    assert with_glossary <= without
