"""``canvascap bench translate --quality``: chrF of live translations against references.

Translates the first lines of NTREX-128 (``--mt DIR``: ``ntrex128.eng.txt`` and one file
per language, line-aligned) two ways and scores each with sacrebleu's chrF:

* **packed**: through the translate stage, exactly as live captions go: finals packed
  into shared canvases, each line in its pinned slot, earlier lines as context;
* **one per request**: each (sentence, language) alone in its own request.

The difference says what packing costs, or gains, in quality. With a random test model
the pipeline runs end to end but the scores mean nothing; the report says so.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from canvascap.pipeline.errors import UserError
from canvascap.stages.translation.stage import TranslateOptions

__all__ = ["NTREX_FILES", "run_quality"]

NTREX_FILES = {"de": "deu", "es": "spa", "fr": "fra", "ja": "jpn", "zh": "zho-CN"}
"""canvascap's language codes and NTREX-128's file codes."""

REAL_MODEL_PARAMETERS = 1e9
"""Below this many parameters an in-process model is a test model, not DiffusionGemma."""


def read_pairs(
    folder: Path, langs: list[str], lines: int
) -> tuple[list[str], dict[str, list[str]]]:
    """The first ``lines`` English sentences and their references per language."""
    missing = [lang for lang in langs if lang not in NTREX_FILES]
    if missing:
        raise UserError(
            f"no NTREX-128 references for {', '.join(missing)}: use --translate with "
            f"{', '.join(NTREX_FILES)}"
        )

    def read(code: str) -> list[str]:
        path = folder / f"ntrex128.{code}.txt"
        try:
            return path.read_text(encoding="utf-8").splitlines()[:lines]
        except OSError as error:
            raise UserError(f"cannot read {path}: {error.strerror}; give --mt DIR") from None

    return read("eng"), {lang: read(NTREX_FILES[lang]) for lang in langs}


def chrf(hypotheses: list[str], references: list[str]) -> float:
    """Corpus chrF (sacrebleu), on characters, so it suits ja and zh as well."""
    from sacrebleu.metrics.chrf import CHRF

    return round(float(CHRF().corpus_score(hypotheses, [references]).score), 2)


def run_quality(options: TranslateOptions, folder: Path, lines: int) -> dict[str, Any]:
    """Scores per language for both ways, and what model produced them."""
    english, references = read_pairs(folder, list(options.targets), lines)
    packed = asyncio.run(_packed(options, english))
    alone, model_note = asyncio.run(_one_per_request(options, english))
    report: dict[str, Any] = {"lines": len(english), "chrF": {}}
    for lang, wanted in references.items():
        report["chrF"][lang] = {
            "packed": chrf([packed.get((i, lang), "") for i in range(len(english))], wanted),
            "one_per_request": chrf(
                [alone.get((i, lang), "") for i in range(len(english))], wanted
            ),
        }
    if model_note:
        report["note"] = model_note
    return report


async def _packed(options: TranslateOptions, english: list[str]) -> dict[tuple[int, str], str]:
    from canvascap.pipeline.stage import Context
    from canvascap.pipeline.testing import run_stage
    from canvascap.pipeline.types import Caption
    from canvascap.stages.translation.stage import TranslateStage

    live = options.model_copy(
        update={"max_pending": len(english) + 1, "max_lag_s": 1e6, "drain_s": 3600}
    )
    stage = TranslateStage(live, Context(session="quality"))
    finals = [
        Caption(i, 1, True, text, text, "en", i * 4.0, i * 4.0 + 3.5, time.monotonic_ns(), 0)
        for i, text in enumerate(english)
    ]
    out = await run_stage(stage, finals)
    return {c.key: c.text for c in out if c.final and c.lang != "en"}


async def _one_per_request(
    options: TranslateOptions, english: list[str]
) -> tuple[dict[tuple[int, str], str], str | None]:
    from canvascap.stages.translation.asking import make_backend, plan_skeleton, read_answer
    from canvascap.stages.translation.packing import Job, build_prompt

    backend = make_backend(options)
    await backend.start()
    found: dict[tuple[int, str], str] = {}
    try:
        for i, text in enumerate(english):
            for lang in options.targets:
                skeleton, pairs = await plan_skeleton(backend, [(Job(i, text, "en", [lang]), lang)])
                completion = await backend.complete(
                    build_prompt(pairs, []), max_tokens=256, skeleton=skeleton
                )
                lines, _ = read_answer(completion, skeleton, [(i, lang)])
                found.update(lines)
        return found, _model_note(backend)
    finally:
        await backend.aclose()


def _model_note(backend: Any) -> str | None:
    model: Any = getattr(backend, "model", None)
    if hasattr(model, "parameters"):
        size = sum(p.numel() for p in model.parameters())
        if size < REAL_MODEL_PARAMETERS:
            return (
                f"a test model ({size:,} parameters, not DiffusionGemma): the pipeline ran "
                "end to end, the scores are meaningless"
            )
    return None
