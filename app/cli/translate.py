"""Command-line pieces for translation: the flags, their overrides, and ``llm check``."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import TYPE_CHECKING

from canvascap.pipeline.config import PipelineConfig
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import percentile

if TYPE_CHECKING:
    from canvascap.stages.translation.engines.backend import LlmBackend, OnDraft
    from canvascap.stages.translation.packing import Job
    from canvascap.stages.translation.stage import TranslateOptions

__all__ = ["add_llm_options", "add_translate_options", "llm_check", "translate_overrides"]

SAMPLE_CAPTIONS = [
    "Good morning everyone, and thank you for joining the call today.",
    "First we will look at the numbers from last quarter, then at the plans for next year.",
]

HOW_TO_START = (
    "start a DiffusionGemma backend: on a GPU server run "
    "'vllm serve google/diffusiongemma-26B-A4B-it' and add --llm openai "
    "--llm-url http://HOST:8000/v1, or run it in process with --llm transformers "
    "--llm-model PATH_OR_ID"
)


def add_llm_options(parser: argparse.ArgumentParser) -> None:
    """``--llm``, ``--llm-model``, ``--llm-url``."""
    parser.add_argument(
        "--llm",
        choices=("transformers", "openai"),
        help="DiffusionGemma backend: in process (transformers) or an "
        "OpenAI-compatible server such as vLLM (openai)",
    )
    parser.add_argument(
        "--llm-model",
        metavar="PATH_OR_ID",
        help="model folder or hub id (transformers), or served model name",
    )
    parser.add_argument(
        "--llm-url", metavar="URL", help="server base URL (default: http://127.0.0.1:8000/v1)"
    )


def add_translate_options(parser: argparse.ArgumentParser) -> None:
    """``--translate``, ``--cleanup``, ``--glossary`` and the backend flags."""
    parser.add_argument(
        "--translate",
        metavar="LANGS",
        help="translate captions into these languages, e.g. es,de,ja "
        "(needs --llm; 'en' alone works without one, via Whisper)",
    )
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="fix recognition errors, punctuation and fillers (needs --llm)",
    )
    parser.add_argument(
        "--glossary",
        metavar="FILE",
        help="YAML names and terms: recognised, kept, or translated consistently",
    )
    add_llm_options(parser)


def _targets(args: argparse.Namespace) -> list[str]:
    return [t.strip() for t in (getattr(args, "translate", None) or "").split(",") if t.strip()]


def _backend_options(args: argparse.Namespace) -> dict[str, object]:
    options: dict[str, object] = {}
    if args.llm:
        options["backend"] = args.llm
    if args.llm_model:
        options["model"] = args.llm_model
    if args.llm_url:
        options["url"] = args.llm_url
    return options


def translate_overrides(args: argparse.Namespace, preset: PipelineConfig) -> list[str]:
    """Overrides that add or configure the translate stage, or use Whisper's translation."""
    targets = _targets(args)
    cleanup = bool(getattr(args, "cleanup", False))
    has_stage = "translate" in preset.stages
    if not (targets or cleanup or args.llm or args.llm_url or args.llm_model):
        return []
    if args.llm or has_stage:
        options = _backend_options(args)
        if targets:
            options["targets"] = targets
        if cleanup:
            options["cleanup"] = True
        if getattr(args, "glossary", None):
            options["glossary"] = args.glossary
        if has_stage:
            return [f"translate.{key}={json.dumps(value)}" for key, value in options.items()]
        stage = {
            "use": "translate.llm",
            "inbox": {"size": 16, "policy": "coalesce"},
            "options": options,
        }
        return [f"stages.translate={json.dumps(stage)}"]
    if targets == ["en"] and not cleanup:
        # No LLM: Whisper's own speech translation into English, multilingual model.
        overrides = ["asr.task=translate"]
        if getattr(args, "model", None) is None and preset.stages["asr"].options.get(
            "model", "tiny.en"
        ).endswith(".en"):
            overrides += ["asr.model=base", "asr.language=auto"]
        return overrides
    wanted = ", ".join(targets) or "cleanup"
    raise UserError(f"translation into {wanted} needs an LLM backend: {HOW_TO_START}")


async def _start(backend: LlmBackend, options: TranslateOptions) -> None:
    """Start a backend for a one-off command; unreachable is a one-line error."""
    try:
        await backend.start()
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - report any failure to connect
        where = f" at {options.url}" if options.backend == "openai" else ""
        raise UserError(
            f"the {options.backend} backend is not reachable{where}: {error}; {HOW_TO_START}"
        ) from None


def llm_check(args: argparse.Namespace) -> int:
    """Send one packed request to the configured backend and report what came back."""
    from canvascap.stages.translation.packing import Job
    from canvascap.stages.translation.stage import TranslateOptions, make_backend

    options = TranslateOptions(
        **{"targets": _targets(args) or ["es", "de"], **_backend_options(args)}
    )
    backend = make_backend(options)

    async def check() -> dict[str, object]:
        await _start(backend, options)
        jobs = [Job(i, text, "en", list(options.targets)) for i, text in enumerate(SAMPLE_CAPTIONS)]
        pairs = [(job, lang) for job in jobs for lang in job.langs]
        started = time.monotonic()
        drafts = 0

        def on_draft(_: str) -> None:
            nonlocal drafts
            drafts += 1

        try:
            found, missing, pinned = await _ask(backend, pairs, on_draft)
        finally:
            await backend.aclose()
        latency = time.monotonic() - started
        reason = getattr(backend, "free_text_reason", None)
        return {
            "latency_s": round(latency, 3),
            "lines_returned": len(found),
            "lines_missing": len(missing),
            "drafts": drafts,
            "skeleton": "pinned" if pinned else f"free text ({reason or 'not supported'})",
            "lines": {f"{cid}|{lang}": text for (cid, lang), text in found.items()},
        }

    report = asyncio.run(check())
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["lines_missing"] == 0 else 1


def bench_translate(args: argparse.Namespace) -> int:
    """``canvascap bench translate``: per-request latency, lines per canvas, and the
    translation lag of a live session (``translation_lag``)."""
    import statistics

    from canvascap.stages.translation.packing import Job, pack
    from canvascap.stages.translation.stage import TranslateOptions, make_backend

    options = TranslateOptions(
        **{"targets": _targets(args) or ["es", "de"], **_backend_options(args)}
    )
    if args.quality:
        return translation_quality(args, options)
    sentences = SAMPLE_CAPTIONS + BENCH_CAPTIONS
    if args.sentences:
        try:
            with open(args.sentences, encoding="utf-8") as handle:
                sentences = [line.strip() for line in handle if line.strip()]
        except OSError as error:
            raise UserError(f"cannot read {args.sentences}: {error.strerror}") from None
    backend = make_backend(options)

    async def bench() -> dict[str, object]:
        await _start(backend, options)
        budget = int(options.canvas_tokens * (1 - options.headroom))
        latencies, per_canvas, missing = [], [], 0
        try:
            for request in range(args.requests):
                start = (request * 3) % len(sentences)
                jobs = [
                    Job(i, sentences[(start + i) % len(sentences)], "en", list(options.targets))
                    for i in range(6)
                ]
                pairs, _ = pack(jobs, backend.count_tokens, budget)
                began = time.monotonic()
                found, lost, _ = await _ask(backend, pairs)
                latencies.append(time.monotonic() - began)
                per_canvas.append(len(found) + len(lost))
                missing += len(lost)
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

    report = asyncio.run(bench())
    report["lag"] = translation_lag(args)
    print(json.dumps(report, indent=2))
    return 0


def translation_quality(args: argparse.Namespace, options: TranslateOptions) -> int:
    """``bench translate --quality``: chrF against NTREX-128 references."""
    import importlib.util
    from pathlib import Path

    if not args.mt:
        raise UserError("--quality needs --mt DIR, the folder of ntrex128.*.txt files")
    if importlib.util.find_spec("sacrebleu") is None:
        raise UserError("--quality needs sacrebleu: pip install 'canvascap[bench]'")
    from canvascap.bench.translation_quality import run_quality

    report = run_quality(options, Path(args.mt), args.lines)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def translation_lag(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Play a recording at 1x through the whole pipeline with translation on, and
    report, per language, how long after a caption became final its translation was
    final too, and how long after a partial's words settled their translation showed
    (p50, p90)."""
    from canvascap.cli.session import run_session
    from canvascap.pipeline.config import load_config
    from canvascap.pipeline.runner import Pipeline
    from canvascap.pipeline.stage import Context
    from canvascap.presets import demo_clip, file_source_overrides

    audio = args.audio or str(demo_clip())
    overrides = file_source_overrides(audio, realtime=True)
    if not _targets(args):
        args.translate = "es,de"
    if not args.llm:
        args.llm = "openai"
    overrides += translate_overrides(args, load_config(args.config, overrides))
    config = load_config(args.config, overrides)
    config = PipelineConfig.model_validate({**config.model_dump(), "sinks": {}})
    ctx = Context(session="bench-translate")
    run_session(Pipeline.build(config, ctx))
    lags: dict[str, dict[str, float]] = {}
    for name, timing in ctx.metrics.snapshot()["timings"].items():
        kind, _, lang = name.removeprefix("translate.").rpartition(".")
        figures = lags.setdefault(lang, {})
        if kind == "lag_s":  # from a final caption to its final translation
            figures.update(lag_s_p50=timing["p50"], lag_s_p90=timing["p90"], lines=timing["n"])
        elif kind == "settled_lag_s":  # from settled words of a partial to their translation
            figures.update(settled_lag_s_p50=timing["p50"], settled_lag_s_p90=timing["p90"])
    return lags


async def _ask(
    backend: LlmBackend, pairs: list[tuple[Job, str]], on_draft: OnDraft | None = None
) -> tuple[dict[tuple[int, str], str], list[tuple[int, str]], bool]:
    """One request as the translate stage sends it: the lines found, those missing, and
    whether the backend held a pinned skeleton."""
    from canvascap.stages.translation.asking import plan_skeleton, read_answer
    from canvascap.stages.translation.packing import build_prompt

    skeleton, pairs = await plan_skeleton(backend, pairs)
    completion = await backend.complete(
        build_prompt(pairs, []), max_tokens=256, on_draft=on_draft, skeleton=skeleton
    )
    found, missing = read_answer(completion, skeleton, [(j.id, lang) for j, lang in pairs])
    return found, missing, completion.pinned


BENCH_CAPTIONS = [
    "The new schedule starts on Monday, so please check your calendars.",
    "We are still waiting for the final numbers from the sales team.",
    "If you have questions, write them in the chat and we will answer at the end.",
    "The weather service expects heavy rain in the north this weekend.",
    "Our next speaker has worked on public transport for twenty years.",
    "Thank you all for coming, and see you next week.",
]
