"""Translation through an ordinary chat model: llama.cpp, Ollama, LM Studio, vLLM.

The cleaning and the server kinds are pure and tested directly; the request format is
tested against the vLLM stand-in (``fake_vllm``, vLLM cannot run here) and against a
real llama.cpp server running a real small instruct model (``llama_server``), whose
lines are scored with a language identifier, also while speech recognition keeps the
CPU busy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import run_stage
from canvascap.pipeline.types import Caption
from canvascap.stages.translation.chat_lines import clean_line
from canvascap.stages.translation.engines.server_kind import constraint, identify
from canvascap.stages.translation.stage import TranslateOptions, TranslateStage
from tests.fake_vllm import FakeVllm
from tests.llama_server import llama_server

# Spoken lines as a meeting or a talk has them.
CAPTIONS = [
    "Good morning everyone, and welcome to the meeting.",
    "Today we will talk about the new school building.",
    "The children love to play in the garden.",
    "Please open the window, it is very hot in here.",
    "My brother works in a small hospital near the river.",
    "We need more time to finish the project.",
    "The train leaves the station at seven in the morning.",
    "Thank you very much for your help yesterday.",
    "The weather will be cold and rainy this weekend.",
    "She bought fresh bread and cheese at the market.",
    "Our team won the game last night.",
    "Can you tell me where the library is?",
    "The price of food has gone up this year.",
    "I would like to ask a question about the budget.",
    "The doctor said that I should drink more water.",
    "We will have a short break after this talk.",
    "The city is building a new bridge over the river.",
    "My favourite colour is blue.",
    "The museum is closed on Mondays.",
    "Let us meet again next week at the same time.",
]
MARKERS = set('"<>|[]{}«»“”')


def final(cid: int, text: str) -> Caption:
    return Caption(cid, 2, True, text, text, "en", cid * 2.0, cid * 2.0 + 1.5, 0, len(text))


def lines(captions: list[Caption], lang: str) -> dict[int, str]:
    return {c.id: c.text for c in captions if c.final and c.lang == lang and not c.stand_in}


def test_answers_are_shown_without_the_quotes_labels_and_markers_small_models_add() -> None:
    source = "The train leaves at seven."
    for answer in (
        '"El tren sale a las siete."',
        "Spanish: El tren sale a las siete.",
        'Spanish translation: "El tren sale a las siete."',
        "<<< El tren sale a las siete. >>>",
        "Es: <<< El tren sale a las siete. >>>",
        "El tren sale a las siete.<|im_end|>",
        "El tren sale a las siete.\n\nNote: 'tren' means train.",
        "“El tren sale a las siete.”",
    ):
        assert clean_line(answer, source, "en", "es") == "El tren sale a las siete.", answer


def test_an_answer_that_is_no_translation_is_refused_not_shown() -> None:
    source = "Thank you very much for your help yesterday."
    for answer in (
        "",
        "<Spanish translation of caption 0>",
        "Thank you very much for your help yesterday.",  # the source copied back
        "gracias " * 40,  # a model stuck in a loop
        "de la casa de la casa de la casa de la casa",
    ):
        assert clean_line(answer, source, "en", "es") is None, answer
    # A cleaned line may, of course, repeat its source.
    assert clean_line(source, source, "en", "en") == source


def test_servers_are_told_apart_by_what_they_say_about_themselves() -> None:
    def models(owner: str) -> dict[str, object]:
        return {"data": [{"id": "m", "owned_by": owner}]}

    assert identify(models("llamacpp")).kind == "llama.cpp"
    assert identify(models("vllm")).kind == "vllm"
    assert identify(models("library")).kind == "ollama"
    assert identify(models("organization_owner")).kind == "lmstudio"
    assert identify(models("someone")).kind == "unknown"
    props = {"default_generation_settings": {}, "total_slots": 3}
    llama = identify(models("someone"), props)
    assert (llama.kind, llama.slots, llama.models) == ("llama.cpp", 3, ("m",))
    # What each kind takes to hold an answer to one line.
    assert "grammar" in constraint("llama.cpp")
    assert "regex" in constraint("vllm")["structured_outputs"]
    assert constraint("ollama")["response_format"]["type"] == "json_schema"
    assert constraint("unknown") == {}


async def test_an_ordinary_model_on_vllm_gets_one_clean_line_per_caption() -> None:
    with FakeVllm(model="Qwen/Qwen2.5-1.5B-Instruct") as server:
        options = TranslateOptions(backend="openai", url=server.url, targets=["es", "fr"])
        out = await run_stage(
            TranslateStage(options, Context(session="t")),
            [
                final(0, "good morning everyone"),
                final(1, "let us begin"),
            ],
        )
    for lang in ("es", "fr"):
        got = lines(out, lang)
        assert got == {0: "everyone morning good", 1: "begin us let"}  # unquoted, unlabelled
    assert all(r["structured_outputs"]["regex"] for r in server.requests)
    assert not any("vllm_xargs" in r for r in server.requests)  # no canvas for a chat model


async def test_a_server_that_refuses_the_constraint_is_asked_plainly_and_told_once(
    caplog,
) -> None:
    caplog.set_level(logging.WARNING)
    with FakeVllm(model="Qwen/Qwen2.5-1.5B-Instruct") as server:
        server.mode = "no_structured"
        options = TranslateOptions(backend="openai", url=server.url, targets=["es"])
        out = await run_stage(
            TranslateStage(options, Context(session="t")),
            [
                final(0, "good morning everyone"),
                final(1, "let us begin"),
            ],
        )
    assert lines(out, "es") == {0: "everyone morning good", 1: "begin us let"}
    assert len(server.refused) == 1
    assert len([r for r in caplog.records if "refused a constrained answer" in r.message]) == 1


def identified(texts: dict[int, str], lang: str) -> float:
    """Share of the captions whose line a language identifier puts in ``lang``."""
    import py3langid

    py3langid.set_languages(["en", "es", "fr", "de", "it", "pt"])
    hits = sum(py3langid.classify(texts.get(i, ""))[0] == lang for i in range(len(CAPTIONS)))
    return hits / len(CAPTIONS)


async def translate_with_llama(url: str, targets: list[str]) -> list[Caption]:
    options = TranslateOptions(
        backend="openai",
        url=url,
        targets=targets,
        max_lag_s=60.0,
        max_pending=len(CAPTIONS),  # all at once: none is given up as a backlog
        timeout_s=60.0,
        drain_s=120.0,
    )
    captions = [final(i, text) for i, text in enumerate(CAPTIONS)]
    return await run_stage(TranslateStage(options, Context(session="t")), captions)


def assert_clean_and_in(out: list[Caption], lang: str) -> None:
    got = lines(out, lang)
    assert not [line for line in got.values() if MARKERS & set(line)]
    share = identified(got, lang)
    assert share >= 0.9, (share, got)


@pytest.mark.timeout(600)
async def test_a_real_small_instruct_model_on_llama_cpp_answers_in_the_target_language() -> None:
    with llama_server() as url:
        out = await translate_with_llama(url, ["es", "fr"])
    assert_clean_and_in(out, "es")
    assert_clean_and_in(out, "fr")


@contextmanager
def recognition_running(audio: Path) -> Iterator[None]:
    """tiny.en transcribing in a loop on another thread, as a live session would."""
    from faster_whisper import WhisperModel

    from canvascap.stages.recognition.whisper_models import resolve_model

    model = WhisperModel(resolve_model("tiny.en"), device="cpu", compute_type="int8", cpu_threads=2)
    stop = threading.Event()
    rounds = []

    def transcribe() -> None:
        while not stop.is_set():
            segments, _ = model.transcribe(str(audio), beam_size=1)
            rounds.append(sum(1 for _ in segments))

    worker = threading.Thread(target=transcribe, daemon=True)
    worker.start()
    try:
        time.sleep(0.5)
        yield
    finally:
        stop.set()
        worker.join(timeout=60)
    assert rounds and all(rounds)  # recognition really ran, and heard speech


@pytest.mark.timeout(600)
async def test_the_model_still_answers_in_the_target_language_while_recognition_runs(
    jfk: Path,
) -> None:
    with llama_server(threads=1) as url, recognition_running(jfk):
        out = await translate_with_llama(url, ["es"])
    assert_clean_and_in(out, "es")


@pytest.mark.timeout(300)
def test_llm_check_names_the_server_and_how_it_was_asked() -> None:
    import json

    from tests.cli import canvascap

    with llama_server() as url:
        done = canvascap("llm", "check", "--llm", "openai", "--llm-url", url, "--translate", "es")
    report = json.loads(done.stdout)
    assert report["server"] == "llama.cpp"
    assert report["requests"].startswith("one line per request")
    assert report["constrained"] is True
    assert report["lines_returned"] + report["lines_missing"] == 2
