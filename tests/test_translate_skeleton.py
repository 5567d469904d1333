"""The pinned line skeleton: laid out from token ids, read by position, and honoured
by a vLLM-like server (the stand-in in fake_vllm.py), with a free-text fallback for a
server that refuses it."""

from __future__ import annotations

import json
import logging
import time

import pytest

from canvascap.pipeline.config import load_config, preset_path
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import run_stage
from canvascap.pipeline.types import Caption
from canvascap.stages.translation.skeleton import Vocabulary, build_skeleton
from canvascap.stages.translation.stage import TranslateOptions, TranslateStage
from tests.cli import canvascap
from tests.fake_vllm import FakeVllm, detokenize

# For the layout tests: one token per character, 0 and 1 for padding and end of turn.
VOCABULARY = Vocabulary(newline=ord("\n"), filler=0, end=1, stops=frozenset({0, 1}))


def chars(text: str) -> list[int]:
    return [ord(c) for c in text]


def unchars(ids: list[int]) -> str:
    return "".join(chr(t) for t in ids if t > 1)


def final(cid: int, text: str) -> Caption:
    return Caption(cid, 2, True, text, text, "en", 0.0, 1.5, time.monotonic_ns(), len(text))


def skeleton_for(keys, sizes, canvas_length=256, whole_only=()):
    prefixes = [chars(f"{cid}|{lang}|") for cid, lang in keys]
    return build_skeleton(keys, prefixes, sizes, VOCABULARY, canvas_length, whole_only)


def test_slots_are_laid_out_in_order_and_those_that_do_not_fit_wait() -> None:
    skeleton = skeleton_for([(3, "es"), (3, "de"), (4, "es")], [10, 12, 40], canvas_length=40)
    assert skeleton.keys == [(3, "es"), (3, "de")]  # the third would run past the canvas
    assert len(skeleton.seed) == 40
    text = unchars([skeleton.seed[p] for p in skeleton.pinned])
    assert text == "3|es|\n3|de|\n"  # every label and newline is held, and the end
    assert skeleton.seed[skeleton.pinned[-1]] == VOCABULARY.end
    first = skeleton.slots[0]
    assert (first.start, first.size) == (5, 10)


def test_lines_are_read_by_position_never_by_what_the_model_claims() -> None:
    skeleton = skeleton_for([(3, "es"), (3, "de"), (4, "es")], [20, 20, 20])
    canvas = "3|es| hola a todos\n3|de| 4|es| hallo\nnoise\n4|es|   \n"
    found, missing = skeleton.read(canvas)
    assert found == {(3, "es"): "hola a todos", (3, "de"): "4|es| hallo"}
    assert missing == [(4, "es")]  # an empty slot is missing, not "noise"


def test_a_draft_shows_only_what_the_model_is_sure_of() -> None:
    skeleton = skeleton_for([(0, "en"), (0, "es")], [8, 8], whole_only=[True, False])
    ids = list(skeleton.seed)
    sure = [1.0] * len(ids)
    for slot, text in zip(skeleton.slots, [" hi all!", " hola a"], strict=True):
        ids[slot.start : slot.start + len(text)] = chars(text)
    es = skeleton.slots[1]
    sure[es.start + 5] = 0.3  # "hola |a": the model is unsure from here on
    en = skeleton.slots[0]
    sure[en.start + 7] = 0.3
    draft = skeleton.draft(ids, sure, 0.8, unchars)
    assert draft == "0|es| hola"  # the cleaned line is left out until all of it is sure
    sure[en.start + 7] = 0.95
    assert skeleton.draft(ids, sure, 0.8, unchars).startswith("0|en| hi all!")


async def test_a_vllm_that_holds_the_skeleton_gets_every_line_keyed_by_position() -> None:
    with FakeVllm() as server:
        stage = TranslateStage(
            TranslateOptions(backend="openai", url=server.url, targets=["es", "pt-BR"]),
            Context(session="t"),
        )
        captions = [final(0, "good morning"), final(1, "we start with the budget")]
        out = await run_stage(stage, captions)
    got = {c.key: c.text for c in out if c.final}
    assert got[(0, "es")] == "[es] good morning"
    assert got[(1, "pt-BR")] == "[pt-BR] we start with the budget"
    for request in server.requests:
        xargs = request["vllm_xargs"]
        seed, pinned = xargs["diffusion_seed_canvas"], xargs["diffusion_pinned"]
        assert len(seed) == 256
        labels = detokenize([seed[p] for p in pinned]).split("\n")
        assert labels[0] in {"0|es|", "1|es|"} and all("|" in label for label in labels[:-1])
    assert server.refused == []


async def test_a_vllm_without_template_infilling_is_asked_in_free_text_once_told(
    caplog,
) -> None:
    caplog.set_level(logging.WARNING)
    with FakeVllm() as server:
        server.mode = "old"
        stage = TranslateStage(
            TranslateOptions(backend="openai", url=server.url, targets=["es"]),
            Context(session="t"),
        )
        out = await run_stage(stage, [final(0, "good morning"), final(1, "let us begin")])
    got = {c.key: c.text for c in out if c.final}
    assert got[(0, "es")] == "[es] good morning" and got[(1, "es")] == "[es] let us begin"
    seeded = ["diffusion_seed_canvas" in r["vllm_xargs"] for r in server.requests]
    assert seeded[0] and not any(seeded[1:])  # refused once, then never sent again
    assert len(server.refused) == 1
    warnings = [r.message for r in caplog.records if "pinned skeleton" in r.message]
    assert len(warnings) == 1


async def test_a_server_that_ignores_the_seed_canvas_is_not_read_by_position(caplog) -> None:
    caplog.set_level(logging.WARNING)
    with FakeVllm() as server:
        server.mode = "ignores_xargs"  # takes vllm_xargs, writes the lines in another order
        stage = TranslateStage(
            TranslateOptions(backend="openai", url=server.url, targets=["es", "de"]),
            Context(session="t"),
        )
        out = await run_stage(stage, [final(0, "good morning"), final(1, "let us begin")])
    got = {c.key: c.text for c in out if c.final}
    # Read by position, the reversed answer would put German words in Spanish lines.
    assert got[(0, "es")] == "[es] good morning" and got[(0, "de")] == "[de] good morning"
    assert got[(1, "es")] == "[es] let us begin"
    seeded = ["diffusion_seed_canvas" in r["vllm_xargs"] for r in server.requests]
    assert seeded[0] and not any(seeded[1:])  # never trusted with a skeleton again
    warnings = [r.message for r in caplog.records if "did not keep the pinned labels" in r.message]
    assert len(warnings) == 1


def test_llm_check_says_whether_the_server_held_the_skeleton() -> None:
    reports = {}
    for mode in ("ok", "old"):
        with FakeVllm() as server:
            server.mode = mode
            done = canvascap("llm", "check", "--llm", "openai", "--llm-url", server.url)
        assert done.returncode == 0, done.stderr
        reports[mode] = json.loads(done.stdout)
    assert reports["ok"]["skeleton"] == "pinned"
    assert reports["old"]["skeleton"].startswith("free text (it refused the seed canvas")
    assert reports["old"]["lines_missing"] == 0


@pytest.mark.parametrize("preset", ["vllm-fp8", "vllm-nvfp4"])
def test_the_quantized_presets_pass_llm_check(preset: str) -> None:
    model = load_config(preset_path(preset)).stages["translate"].options["model"]
    with FakeVllm(model=model) as server:
        done = canvascap("llm", "check", "--config", preset, "--llm-url", server.url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["requests"].startswith("packed canvases")
    assert report["skeleton"] == "pinned"
    assert report["lines_missing"] == 0 and report["tokens_per_s"] > 0
    assert report["vram_gb"] is None  # a server's memory is not seen from here
