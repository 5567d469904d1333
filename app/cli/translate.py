"""Command-line pieces for translation: the flags, their overrides, and ``llm check``."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from canvascap.pipeline.config import PipelineConfig, load_config
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import Metrics
from canvascap.translation_setup import (
    TranslationRequest,
    start_backend,
    translation_overrides,
)

if TYPE_CHECKING:
    from canvascap.stages.translation.options import TranslateOptions

__all__ = [
    "SAMPLE_CAPTIONS",
    "add_llm_options",
    "add_translate_options",
    "bench_translate",
    "llm_check",
    "translate_overrides",
]

SAMPLE_CAPTIONS = [
    "Good morning everyone, and thank you for joining the call today.",
    "First we will look at the numbers from last quarter, then at the plans for next year.",
]


def add_llm_options(parser: argparse.ArgumentParser) -> None:
    """``--llm``, ``--llm-model``, ``--llm-url``, ``--llm-kind``."""
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
    parser.add_argument(
        "--llm-kind",
        choices=("auto", "diffusion", "chat"),
        help="what the server serves: DiffusionGemma (packed canvases) or an ordinary chat "
        "model such as llama.cpp's or Ollama's (one line per request); default auto: "
        "DiffusionGemma when the served model's name says so",
    )


def add_translate_options(parser: argparse.ArgumentParser) -> None:
    """``--translate``, ``--cleanup``, ``--glossary`` and the backend flags."""
    parser.add_argument(
        "--translate",
        metavar="LANGS",
        help="translate captions into these languages, e.g. es,de,ja: on this computer's "
        "CPU with a Marian model per language pair (in $CANVASCAP_MODELS), or with a "
        "language model (--llm); 'en' alone uses Whisper's own translation",
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
    if getattr(args, "llm_kind", None):
        options["kind"] = args.llm_kind
    return options


def _llm_options(args: argparse.Namespace) -> TranslateOptions:
    """The backend the flags name, over the translate options of ``--config`` if given,
    for a one-off request (Spanish and German unless either says otherwise)."""
    from canvascap.stages.translation.options import TranslateOptions

    preset: dict[str, object] = {}
    if getattr(args, "config", None):
        stage = load_config(args.config).stages.get("translate")
        preset = dict(stage.options) if stage is not None else {}
    targets = _targets(args) or preset.get("targets") or ["es", "de"]
    return TranslateOptions(**{**preset, "targets": targets, **_backend_options(args)})


def translation_request(args: argparse.Namespace) -> TranslationRequest:
    """What the flags ask of translation."""
    return TranslationRequest(
        targets=_targets(args),
        cleanup=bool(getattr(args, "cleanup", False)),
        backend=_backend_options(args),
        glossary=getattr(args, "glossary", None),
        model_chosen=getattr(args, "model", None) is not None,
        spoken=getattr(args, "lang", None),
    )


def translate_overrides(args: argparse.Namespace, preset: PipelineConfig) -> list[str]:
    """Overrides that add or configure the translate stage, or use Whisper's translation."""
    return translation_overrides(translation_request(args), preset)


def llm_check(args: argparse.Namespace) -> int:
    """Send one request (two captions x the languages) and report what came back."""
    from canvascap.stages.translation.engine import make_engine
    from canvascap.stages.translation.packing import Job

    options = _llm_options(args)
    engine = make_engine(options, Metrics(), None)

    async def check() -> dict[str, object]:
        await start_backend(engine, options)
        jobs = [Job(i, text, "en", list(options.targets)) for i, text in enumerate(SAMPLE_CAPTIONS)]
        pairs = [(job, lang) for job in jobs for lang in job.langs]
        started = time.monotonic()
        drafts = 0

        def on_draft(cid: int, lang: str, text: str) -> None:
            nonlocal drafts
            drafts += 1

        try:
            answer = await engine.translate(pairs, [], on_draft)
        finally:
            await engine.aclose()
        latency = time.monotonic() - started
        written = sum(engine.count_tokens(line) for line in answer.found.values())
        return {
            "latency_s": round(latency, 3),
            "tokens_per_s": round(written / latency, 1) if latency > 0 else None,
            **_what_answered(engine, answer.pinned),
            **_gpu_memory(engine),
            "lines_returned": len(answer.found),
            "lines_missing": len(answer.missing),
            "drafts": drafts,
            "lines": {f"{cid}|{lang}": text for (cid, lang), text in answer.found.items()},
        }

    report = asyncio.run(check())
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["lines_missing"] == 0 else 1


def _gpu_memory(engine: object) -> dict[str, object]:
    """GPU memory the model holds, where this process can see it (in process, on CUDA)."""
    from canvascap.stages.translation.engine import LlmEngine

    device = getattr(engine.backend, "device", None) if isinstance(engine, LlmEngine) else None
    if device != "cuda":
        where = "runs on the CPU" if device == "cpu" else "is in the server's process"
        return {"vram_gb": None, "vram": f"not seen from here: the model {where}"}
    import torch

    return {"vram_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2)}


def _what_answered(engine: object, pinned: bool) -> dict[str, object]:
    """The server's kind and how it was asked, for ``llm check``."""
    from canvascap.stages.translation.engine import LlmEngine, ServerEngine
    from canvascap.stages.translation.engines.chat_server import ChatServerEngine

    out: dict[str, object] = {}
    if isinstance(engine, ServerEngine):
        if engine.server is not None:
            out["server"] = engine.server.kind
        engine = engine.inner
    if isinstance(engine, ChatServerEngine):
        out["model"] = engine.model
        out["requests"] = "one line per request (a chat model)"
        out["constrained"] = engine.constrained
    elif isinstance(engine, LlmEngine):
        reason = getattr(engine.backend, "free_text_reason", None)
        out["requests"] = "packed canvases (DiffusionGemma)"
        out["skeleton"] = "pinned" if pinned else f"free text ({reason or 'not supported'})"
    return out


def bench_translate(args: argparse.Namespace) -> int:
    """``canvascap bench translate``: checks the flags, then runs ``bench.translation``."""
    import importlib.util

    from canvascap.bench import translation

    if args.cpu:
        return _bench_cpu(args)
    options = _llm_options(args)
    if args.quality:
        if not args.mt:
            raise UserError("--quality needs --mt DIR, the folder of ntrex128.*.txt files")
        if importlib.util.find_spec("sacrebleu") is None:
            raise UserError("--quality needs sacrebleu: pip install 'canvascap[bench]'")
        report = translation.quality(options, Path(args.mt), args.lines)
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    sentences = SAMPLE_CAPTIONS + translation.BENCH_CAPTIONS
    if args.sentences:
        try:
            with open(args.sentences, encoding="utf-8") as handle:
                sentences = [line.strip() for line in handle if line.strip()]
        except OSError as error:
            raise UserError(f"cannot read {args.sentences}: {error.strerror}") from None
    report = translation.request_latency(options, sentences, args.requests)
    lag_request = TranslationRequest(
        targets=list(options.targets), backend={"backend": "openai", **_backend_options(args)}
    )
    report["lag"] = translation.translation_lag(args.audio, args.config, lag_request)
    print(json.dumps(report, indent=2))
    return 0


def _bench_cpu(args: argparse.Namespace) -> int:
    """``bench translate --cpu``: the Marian engine beside recognition."""
    from canvascap.bench.cpu_translation import run_cpu_translation
    from canvascap.stages.translation.engines.marian import default_models_dir

    if not args.manifest:
        raise UserError("--cpu needs --manifest TSV, a list of English speech clips")
    manifest = Path(args.manifest)
    if not manifest.is_file():
        raise UserError(f"--manifest {manifest}: no such file")
    models = Path(args.models).expanduser() if args.models else default_models_dir()
    targets = _targets(args) or ["es", "fr", "de"]
    report = run_cpu_translation(manifest, models, targets, args.runs, config=args.config)
    print(json.dumps(report, indent=2))
    return 0
