"""``canvascap bench translate``: request latency, lines per canvas, and translation lag.

Two figures: packed requests sent straight to the backend (median and p90 latency, how
many lines each canvas carried), and a recording played at 1x through the whole pipeline
with translation on, reporting per language how long after a caption became final its
translation was final too, and how long after a partial's words settled their
translation showed (p50, p90). ``--quality`` scores chrF instead
(``bench.translation_quality``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from canvascap.pipeline.config import PipelineConfig, load_config
from canvascap.pipeline.metrics import Metrics, percentile
from canvascap.pipeline.runner import Pipeline
from canvascap.presets import demo_clip, file_source_overrides
from canvascap.services import session_context
from canvascap.stages.translation.asking import ask, make_backend
from canvascap.stages.translation.packing import Job, pack
from canvascap.stages.translation.stage import TranslateOptions
from canvascap.translation_setup import TranslationRequest, start_backend, translation_overrides

__all__ = ["BENCH_CAPTIONS", "quality", "request_latency", "translation_lag"]

BENCH_CAPTIONS = [
    "The new schedule starts on Monday, so please check your calendars.",
    "We are still waiting for the final numbers from the sales team.",
    "If you have questions, write them in the chat and we will answer at the end.",
    "The weather service expects heavy rain in the north this weekend.",
    "Our next speaker has worked on public transport for twenty years.",
    "Thank you all for coming, and see you next week.",
]
LINES_PER_REQUEST = 6


def request_latency(
    options: TranslateOptions, sentences: list[str], requests: int
) -> dict[str, Any]:
    """Send ``requests`` packed requests of six captions each; latency and packing."""
    backend = make_backend(options)

    async def bench() -> dict[str, Any]:
        await start_backend(backend, options)
        budget = int(options.canvas_tokens * (1 - options.headroom))
        latencies: list[float] = []
        per_canvas: list[int] = []
        missing = 0
        try:
            for request in range(requests):
                start = (request * 3) % len(sentences)
                jobs = [
                    Job(i, sentences[(start + i) % len(sentences)], "en", list(options.targets))
                    for i in range(LINES_PER_REQUEST)
                ]
                pairs, _ = pack(jobs, backend.count_tokens, budget)
                began = time.monotonic()
                answer = await ask(backend, pairs, [], None, 256, _no_draft, Metrics())
                latencies.append(time.monotonic() - began)
                per_canvas.append(len(answer.found) + len(answer.missing))
                missing += len(answer.missing)
        finally:
            await backend.aclose()
        return {
            "backend": options.backend,
            "requests": len(latencies),
            "latency_s_p50": round(statistics.median(latencies), 4),
            "latency_s_p90": round(percentile(latencies, 0.9), 4),
            "lines_per_canvas": round(statistics.mean(per_canvas), 2),
            "lines_missing": missing,
        }

    return asyncio.run(bench())


def _no_draft(cid: int, lang: str, text: str) -> None:
    """Drafts are not timed here."""


def translation_lag(
    audio: str | None, config: str | None, request: TranslationRequest
) -> dict[str, dict[str, float]]:
    """Play a recording (the demo clip by default) at 1x through the pipeline with
    translation on; per language, the lag of final and of settled-word translations."""
    overrides = file_source_overrides(audio or str(demo_clip()), realtime=True)
    overrides += translation_overrides(request, load_config(config, overrides))
    built = load_config(config, overrides)
    built = PipelineConfig.model_validate({**built.model_dump(), "sinks": {}})
    ctx = session_context("bench-translate", built)
    asyncio.run(Pipeline.build(built, ctx).run())
    lags: dict[str, dict[str, float]] = {}
    for name, timing in ctx.metrics.snapshot()["timings"].items():
        kind, _, lang = name.removeprefix("translate.").rpartition(".")
        figures = lags.setdefault(lang, {})
        if kind == "lag_s":  # from a final caption to its final translation
            figures.update(lag_s_p50=timing["p50"], lag_s_p90=timing["p90"], lines=timing["n"])
        elif kind == "settled_lag_s":  # from settled words of a partial to their translation
            figures.update(settled_lag_s_p50=timing["p50"], settled_lag_s_p90=timing["p90"])
    return lags


def quality(options: TranslateOptions, folder: Path, lines: int) -> dict[str, Any]:
    """``--quality``: chrF against NTREX-128 references (``bench.translation_quality``)."""
    from canvascap.bench.translation_quality import run_quality

    return run_quality(options, folder, lines)
