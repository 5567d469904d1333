"""The in-process DiffusionGemma path: real transformers classes, tiny random model.

Random weights give garbage text, so the proof is split as the model's notes advise:
the tiny model shows that the real ``generate()`` and streamer hooks are wired (every
denoising step reaches the stage, the committed canvas ends the request, unparseable
output falls back cleanly); known canvases fed through the same streamer show how
canvas text maps to caption revisions.
"""

from __future__ import annotations

import time

import pytest

from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import run_stage
from canvascap.pipeline.types import Caption
from canvascap.stages.translation.engines.backend import BackendError, Completion
from canvascap.stages.translation.engines.in_process import (
    TransformersBackend,
    _DraftStreamer,
    end_of_turn_ids,
)
from canvascap.stages.translation.packing import Job, build_prompt
from canvascap.stages.translation.stage import (
    TranslateOptions,
    TranslateStage,
    plan_skeleton,
    read_answer,
)
from tests.tiny_diffusion_gemma import build, corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(build(tmp_path_factory.mktemp("tiny-dg"), corpus()))


def final(cid: int, text: str) -> Caption:
    return Caption(cid, 1, True, text, text, "en", 0.0, 1.0, time.monotonic_ns(), len(text))


def options(model: str, **extra) -> TranslateOptions:
    return TranslateOptions(
        backend="transformers",
        model=model,
        device="cpu",
        **{"targets": ["es"], "denoising_steps": 4, **extra},
    )


async def test_every_denoising_step_reaches_the_stage_before_the_commit(tiny_model) -> None:
    backend = TransformersBackend(options(tiny_model))
    await backend.start()
    drafts: list[tuple[float, str]] = []
    completion = await backend.complete(
        "Translate: good morning",
        max_tokens=256,
        on_draft=lambda text: drafts.append((time.monotonic(), text)),
    )
    done_at = time.monotonic()
    await backend.aclose()
    assert isinstance(completion, Completion)
    assert len(drafts) == 4  # one per denoising step
    assert all(at <= done_at for at, _ in drafts)
    assert backend.count_tokens("good morning everyone") > 0


async def test_garbage_canvas_falls_back_to_the_source_text(tiny_model) -> None:
    # Free-text lines (no pinned skeleton): random weights write nothing parseable.
    stage = TranslateStage(options(tiny_model, pinned=False), Context(session="t"))
    out = await run_stage(stage, [final(0, "the meeting starts now")])
    spanish = [c for c in out if c.lang == "es"]
    assert spanish[-1].final and spanish[-1].text == "the meeting starts now"
    assert stage.ctx.metrics.counters["translate.requests"] >= 1


class KnownCanvases(TransformersBackend):
    """The real backend and streamer, with a model that 'denoises' scripted canvases
    (nothing holds what a draft showed, so no draft is stable)."""

    drafts_hold = False

    def __init__(self, opts: TranslateOptions, canvases: list[str]) -> None:
        super().__init__(opts)
        self.canvases = canvases

    def _generate(self, prompt, max_tokens, draft, skeleton=None) -> Completion:
        streamer = _DraftStreamer(self.tokenizer, draft)
        streamer.put(None)  # the prompt
        for text in self.canvases:
            ids = self.tokenizer(text, return_tensors="pt")["input_ids"]
            streamer.put_draft(value=ids)
        streamer.put(None)  # the committed canvas
        streamer.end()
        return Completion(text=self.canvases[-1])


async def test_known_drafts_sharpen_in_place_then_the_committed_canvas_is_final(
    tiny_model,
) -> None:
    canvases = [
        "0|es| buenas",
        "0|es| buenos días a todos\n0|de| Guten",
        "0|es| buenos días a todos\n0|de| Guten Morgen allerseits",
    ]
    opts = options(tiny_model, targets=["es", "de"])
    backend = KnownCanvases(opts, canvases)
    stage = TranslateStage(opts, Context(session="t"), backend=backend)
    out = await run_stage(stage, [final(0, "good morning everyone")])
    spanish = [(c.final, c.text) for c in out if c.lang == "es"]
    german = [(c.final, c.text) for c in out if c.lang == "de"]
    assert spanish[0] == (False, "buenas")
    assert spanish[-1] == (True, "buenos días a todos")
    assert german[0] == (False, "Guten") and german[-1] == (True, "Guten Morgen allerseits")
    revs = [c.rev for c in out if c.lang == "es"]
    assert revs == sorted(set(revs))


async def test_a_request_past_its_deadline_stops_denoising_and_frees_the_model(
    tiny_model,
) -> None:
    backend = TransformersBackend(options(tiny_model, denoising_steps=256, timeout_s=0.3))
    await backend.start()
    drafts: list[str] = []
    started = time.monotonic()
    with pytest.raises(BackendError, match="within 0.3 s"):
        await backend.complete("Translate: good morning", max_tokens=256, on_draft=drafts.append)
    assert time.monotonic() - started < 1.0
    steps_at_deadline = len(drafts)
    backend.options.denoising_steps = 1
    backend.options.timeout_s = 30
    quick = time.monotonic()
    await backend.complete("Translate: hello", max_tokens=256)  # not queued behind the dead request
    assert time.monotonic() - quick < 2.0
    await backend.aclose()
    assert 0 < steps_at_deadline < 256


async def test_end_of_turn_ids_keep_the_checkpoints_own(tiny_model) -> None:
    backend = TransformersBackend(options(tiny_model))
    await backend.start()
    tokenizer = backend.tokenizer
    turn_end = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    ids = end_of_turn_ids([1000, 1001], tokenizer)
    assert ids[:2] == [1000, 1001]  # the checkpoint's list comes first, unchanged
    assert turn_end in ids and tokenizer.eos_token_id in ids
    assert len(ids) == len(set(ids))
    assert end_of_turn_ids(turn_end, tokenizer).count(turn_end) == 1
    await backend.aclose()


async def test_a_generate_that_returns_no_token_ids_is_a_backend_error(tiny_model) -> None:
    opts = options(tiny_model)
    backend = TransformersBackend(opts)
    await backend.start()

    class Broken:
        generation_config = backend.model.generation_config

        def generate(self, input_ids, **kwargs):
            return {"sequences": None}

    backend.model = Broken()
    with pytest.raises(BackendError, match="not token ids"):
        await backend.complete("Translate: hello", max_tokens=256)
    stage = TranslateStage(opts, Context(session="t"), backend=backend)
    out = await run_stage(stage, [final(0, "the meeting starts now")])
    spanish = [c for c in out if c.lang == "es"]
    assert spanish[-1].final and spanish[-1].text == "the meeting starts now"  # source shown


async def test_a_pinned_skeleton_keeps_every_label_in_place(tiny_model) -> None:
    backend = TransformersBackend(options(tiny_model, targets=["es", "de"]))
    await backend.start()
    jobs = [Job(0, "good morning everyone", "en", ["es", "de"]), Job(1, "let us begin", "en", [])]
    jobs[1].langs = ["es", "de"]
    pairs = [(job, lang) for job in jobs for lang in job.langs]
    skeleton, held = await plan_skeleton(backend, pairs)
    assert skeleton is not None and held == pairs
    completion = await backend.complete(build_prompt(held, []), max_tokens=256, skeleton=skeleton)
    await backend.aclose()
    assert completion.pinned
    # Whatever the random weights wrote, each label is where it was pinned, in order.
    found_at = [completion.text.find(f"{cid}|{lang}|") for cid, lang in skeleton.keys]
    assert all(at >= 0 for at in found_at) and found_at == sorted(found_at)
    found, missing = read_answer(completion, skeleton, skeleton.keys)
    assert sorted([*found, *missing]) == sorted(skeleton.keys)


async def test_drafts_show_a_prefix_that_only_ever_grows(tiny_model) -> None:
    # A threshold this low lets the random model's drafts through: they change at every
    # step, and the stage must never show one that takes back what was shown.
    opts = options(tiny_model, targets=["es", "de"], denoising_steps=8, draft_confidence=1e-9)
    stage = TranslateStage(opts, Context(session="t"))
    out = await run_stage(stage, [final(0, "good morning everyone")])
    for lang in ("es", "de"):
        drafts = [c for c in out if c.lang == lang and not c.final]
        assert drafts, lang
        for before, after in zip(drafts, drafts[1:], strict=False):
            assert after.text.startswith(before.text) and after.rev > before.rev
        assert all(c.stable_chars == len(c.text) for c in drafts)
        assert [c for c in out if c.lang == lang][-1].final


async def test_the_final_keeps_what_drafts_showed_as_stable(tiny_model) -> None:
    # Random weights change their mind at every step; whatever a draft has shown as
    # stable is held on the canvas from the next step on, so the committed canvas - and
    # the final line - start with it.
    opts = options(tiny_model, targets=["es", "de"], denoising_steps=8, draft_confidence=1e-9)
    backend = TransformersBackend(opts)
    await backend.start()
    pairs = [(Job(0, "good morning everyone", "en", ["es", "de"]), lang) for lang in ("es", "de")]
    skeleton, held = await plan_skeleton(backend, pairs)
    drafts: list[str] = []
    completion = await backend.complete(
        build_prompt(held, []), max_tokens=256, on_draft=drafts.append, skeleton=skeleton
    )
    await backend.aclose()
    assert skeleton is not None and drafts
    final_lines = skeleton.read(completion.text)[0]
    for draft in drafts:
        for line in draft.splitlines():
            label, _, text = line.partition("| ")
            key = (0, label.split("|")[1])
            assert final_lines.get(key, "").startswith(text.strip()), (line, final_lines)


async def test_through_the_stage_every_final_starts_with_its_stable_drafts(tiny_model) -> None:
    opts = options(tiny_model, targets=["es", "de"], denoising_steps=8, draft_confidence=1e-9)
    out = await run_stage(TranslateStage(opts, Context(session="t")), [final(0, "good morning")])
    for lang in ("es", "de"):
        line = [c for c in out if c.lang == lang]
        assert line[-1].final
        for shown in line[:-1]:
            assert line[-1].text.startswith(shown.text[: shown.stable_chars]), (shown, line[-1])
