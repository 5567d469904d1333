"""The ``canvascap`` command: live captions, whole-file transcripts, device listing."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline.cli_translate import (
    add_llm_options,
    add_translate_options,
    bench_translate,
    llm_check,
    translate_overrides,
)
from pipeline.config import PipelineConfig, file_source_overrides, load_config
from pipeline.errors import StageFailed, UserError
from pipeline.session import run_session

__all__ = ["main"]

log = logging.getLogger("canvascap")

FORMATS = ("txt", "srt", "vtt", "json")


def demo_clip() -> Path:
    """The bundled public-domain clip (JFK, 1961) that ``canvascap demo`` plays."""
    return Path(str(resources.files("pipeline").joinpath("assets/jfk.flac")))


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="Whisper model: tiny.en or base (built in, offline), any faster-whisper "
        "model name (downloaded on first use), or a CTranslate2 model folder",
    )
    parser.add_argument(
        "--lang",
        metavar="auto|CODE",
        help="spoken language, e.g. en, es, de; 'auto' detects it per utterance "
        "(non-English needs a multilingual model such as base)",
    )
    parser.add_argument(
        "--task",
        choices=("transcribe", "translate"),
        help="'translate' gives Whisper's own translation of the speech into English "
        "(needs a multilingual model such as base)",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="a YAML preset (default: the built-in default.yaml)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any preset value, e.g. --set asr.beam_size=3 or "
        "--set vad.hangover_ms=400 (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")


def _positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="canvascap",
        description="Real-time captions from a microphone, system audio or a file.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="live captions from the microphone or a file",
        description="Caption live audio from the microphone (default) or a file, show the "
        "captions in the terminal, and write a transcript. Ctrl-C stops after the last "
        "words; a second Ctrl-C quits at once.",
    )
    run.add_argument(
        "--input", metavar="FILE", help="caption this audio/video file instead of the microphone"
    )
    run.add_argument(
        "--device",
        metavar="NAME|INDEX",
        help="input device by index or part of its name (see 'canvascap devices')",
    )
    run.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --input, play the file at 1x speed as if live (default: on)",
    )
    _add_session_options(run)
    _add_model_options(run)
    add_translate_options(run)

    demo = commands.add_parser(
        "demo",
        help="live captions of a bundled speech clip (no microphone needed)",
        description="Caption a bundled public-domain recording (JFK, 1961) in real time, "
        "exactly as 'canvascap run --input' would.",
    )
    _add_session_options(demo)
    _add_model_options(demo)
    add_translate_options(demo)

    transcribe = commands.add_parser(
        "transcribe",
        help="transcribe a whole file as fast as possible",
        description="Transcribe a whole audio or video file. Progress goes to stderr; the "
        "transcript goes to stdout, or to a file with -o.",
    )
    transcribe.add_argument("file", metavar="FILE", help="audio or video file")
    transcribe.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the -o suffix, else txt)",
    )
    transcribe.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    _add_model_options(transcribe)

    llm = commands.add_parser(
        "llm",
        help="check the translation backend",
        description="Tools for the DiffusionGemma translation backend.",
    )
    llm_commands = llm.add_subparsers(dest="llm_command", required=True, metavar="COMMAND")
    check = llm_commands.add_parser(
        "check",
        help="send one packed request and report latency and lines",
        description="Connect to the backend, send one packed request (two captions x the "
        "target languages), and report latency, lines returned and lines missing.",
    )
    check.add_argument("--translate", metavar="LANGS", help="target languages (default: es,de)")
    add_llm_options(check)
    check.add_argument("-v", "--verbose", action="store_true", help="log details")

    bench = commands.add_parser(
        "bench",
        help="measure latency, accuracy, phantom captions and cost",
        description="Stream a manifest's speech at 1x through the whole pipeline with a feed "
        "client connected, time every word (first partial, final), score WER against the "
        "references and an offline pass, count captions on non-speech, and write "
        "report.json, report.md and latency.png. 'bench translate' measures the LLM backend.",
    )
    bench.add_argument(
        "--manifest",
        metavar="FILE",
        help="TSV with path, kind, lang, reference columns (e.g. ../shared/data/manifest.tsv)",
    )
    bench.add_argument(
        "--report",
        metavar="DIR",
        default="bench-report",
        help="where to write the report (default: ./bench-report)",
    )
    bench.add_argument(
        "--config", metavar="PRESET", help="preset name or YAML file to measure (default: default)"
    )
    bench.add_argument("--model", default="tiny.en", help="Whisper model (default: tiny.en)")
    bench.add_argument("--lang", default="en", help="language of the speech clips to use")
    bench.add_argument("--gap-s", type=float, default=1.5, help="silence + noise between clips")
    bench.add_argument("--no-nonspeech", action="store_true", help="skip the phantom test")
    bench.add_argument(
        "--runs",
        type=_positive_int,
        default=1,
        help="passes over the speech, each with other noise between the clips and another "
        "start offset; figures are medians over them (default: 1)",
    )
    bench.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pipeline settings to measure",
    )
    bench.add_argument("-v", "--verbose", action="store_true", help="log details")
    bench_commands = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    translate_bench = bench_commands.add_parser(
        "translate",
        help="per-request latency and lines per canvas of the LLM backend",
        description="Send packed translation requests to the backend and report the median "
        "and p90 request latency and how many lines each canvas carried.",
    )
    translate_bench.add_argument("--requests", type=int, default=10, help="how many (10)")
    translate_bench.add_argument(
        "--sentences", metavar="FILE", help="English sentences to translate, one a line"
    )
    translate_bench.add_argument(
        "--translate", metavar="LANGS", help="target languages (default: es,de)"
    )
    add_llm_options(translate_bench)
    translate_bench.add_argument("-v", "--verbose", action="store_true", help="log details")

    commands.add_parser(
        "devices",
        help="list audio input devices",
        description="List audio input devices; '*' marks the default.",
    )
    return parser


def _add_session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        metavar="ADDR",
        help="overlay server address (default: 127.0.0.1; any other address requires a token)",
    )
    parser.add_argument(
        "--port",
        type=int,
        metavar="PORT",
        help="overlay server port (default: 8765; 0 picks a free one)",
    )
    parser.add_argument(
        "--no-overlay", action="store_true", help="do not serve the browser overlay"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="folder for transcripts (default: ./transcripts)"
    )
    parser.add_argument(
        "--session", metavar="NAME", help="transcript file name (default: date and time)"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``canvascap`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="canvascap: %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "devices":
            return _devices()
        if args.command == "transcribe":
            return _transcribe(args)
        if args.command == "llm":
            return llm_check(args)
        if args.command == "bench":
            return bench_translate(args) if args.bench_command else _bench(args)
        return _run(args)
    except UserError as error:
        print(f"canvascap: error: {error}", file=sys.stderr)
        return 2
    except StageFailed as error:
        log.debug("stage failure", exc_info=error.error)
        print(f"canvascap: {error}", file=sys.stderr)
        return 1


def _bench(args: argparse.Namespace) -> int:
    from bench.stream import run_bench

    if not args.manifest:
        raise UserError("bench needs --manifest FILE (e.g. ../shared/data/manifest.tsv)")
    report = run_bench(
        Path(args.manifest),
        Path(args.report),
        model=args.model,
        lang=args.lang,
        gap_s=args.gap_s,
        nonspeech=not args.no_nonspeech,
        overrides=args.overrides,
        config=args.config,
        runs=args.runs,
    )
    print(json.dumps(report, indent=2))
    print(f"canvascap: report written to {args.report}/", file=sys.stderr)
    return 0


def _devices() -> int:
    from stages.mic import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no audio input devices found", file=sys.stderr)
        return 1
    for device in devices:
        mark = "*" if device.is_default else " "
        print(
            f"{mark} {device.index:3d}  {device.name}  ({device.channels} ch, "
            f"{device.default_samplerate:.0f} Hz)"
        )
    return 0


def _model_overrides(args: argparse.Namespace) -> list[str]:
    overrides = []
    for flag, key in (("model", "model"), ("lang", "language"), ("task", "task")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"asr.{key}={json.dumps(value)}")
    return overrides


def _session_name(args: argparse.Namespace, input_path: str | None) -> str:
    if getattr(args, "session", None):
        return str(args.session)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{Path(input_path).stem}" if input_path else stamp


def _run(args: argparse.Namespace) -> int:
    from pipeline.runner import Pipeline
    from pipeline.stage import Context

    input_path = str(demo_clip()) if args.command == "demo" else args.input
    overrides: list[str] = []
    if input_path:
        realtime = True if args.command == "demo" or args.realtime is None else args.realtime
        overrides += file_source_overrides(input_path, realtime)
    elif getattr(args, "device", None) is not None:
        overrides.append(f"stages.source.options.device={json.dumps(args.device)}")
    if args.out:
        overrides.append(f"sinks.transcript.options.out_dir={json.dumps(args.out)}")
    for flag in ("host", "port"):
        if getattr(args, flag) is not None:
            overrides.append(f"sinks.overlay.options.{flag}={json.dumps(getattr(args, flag))}")
    overrides += _model_overrides(args)
    overrides += translate_overrides(args, load_config(args.config, overrides))
    config = load_config(args.config, overrides + args.overrides)
    if args.no_overlay:
        sinks = {k: v for k, v in config.sinks.items() if v.use != "sink.overlay"}
        config = config.model_copy(update={"sinks": sinks})
    ctx = Context(session=_session_name(args, input_path))
    pipeline = Pipeline.build(config, ctx)
    what = input_path or "the microphone"

    def ready() -> None:
        for node in pipeline.nodes:
            page_url = getattr(node.stage, "page_url", None)
            if page_url is not None:
                print(
                    f"canvascap: overlay {page_url('/overlay')} (OBS browser source); "
                    f"control page {page_url('/')}",
                    file=sys.stderr,
                )
        print(f"canvascap: captioning {what}; Ctrl-C stops", file=sys.stderr)

    status = run_session(
        pipeline,
        on_ready=ready,
        on_stop=lambda: print(
            "canvascap: stopping after the last words (Ctrl-C again to quit now)", file=sys.stderr
        ),
    )
    for node in pipeline.nodes:
        paths = getattr(node.stage, "paths", None)
        if paths:
            written = ", ".join(str(p) for p in paths if p.exists())
            if written:
                print(f"canvascap: transcript: {written}", file=sys.stderr)
    return status


def _transcribe(args: argparse.Namespace) -> int:
    from pipeline import formats
    from pipeline.runner import Pipeline
    from pipeline.stage import Context
    from stages.collect import CollectSink

    fmt = args.format or (Path(args.output).suffix.lstrip(".") if args.output else "txt")
    if fmt not in FORMATS:
        raise UserError(
            f"unknown output format '{fmt}': use --format with one of {', '.join(FORMATS)}"
        )
    # A file is transcribed for the record, not live: Whisper's full window with
    # timestamp tokens, and every word timed.
    overrides = file_source_overrides(args.file, realtime=False) + [
        "vad.partial_every_ms=0",
        "asr.short_context=off",
        "asr.word_timestamps=true",
    ]
    config = load_config(args.config, overrides + _model_overrides(args) + args.overrides)
    config = PipelineConfig.model_validate({**config.model_dump(), "sinks": {}})
    ctx = Context(session=_session_name(args, args.file))
    collector = CollectSink(progress=sys.stderr.isatty())
    pipeline = Pipeline.build(config, ctx, extra_sinks={"collect": collector})
    collector.duration_s = lambda: getattr(pipeline.nodes[0].stage, "duration_s", None)
    status = run_session(pipeline)
    render: dict[str, Any] = {
        "txt": formats.to_text,
        "srt": formats.to_srt,
        "vtt": formats.to_vtt,
        "json": formats.to_json,
    }
    text = render[fmt](collector.finals)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise UserError(f"cannot write {args.output}: {error.strerror}") from None
    else:
        sys.stdout.write(text)
    return status
