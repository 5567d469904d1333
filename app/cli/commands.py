"""What each sub-command does: wire a preset into a session, run it, report."""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from canvascap.captions import formats
from canvascap.cli.parser import FORMATS
from canvascap.cli.session import run_session, say
from canvascap.cli.translate import translate_overrides
from canvascap.pipeline.config import PipelineConfig, load_config
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.types import Caption
from canvascap.presets import demo_clip, file_source_overrides
from canvascap.services import session_context
from canvascap.stages.speakers.labeler import SpeakerOptions

__all__ = [
    "bench",
    "bench_mic",
    "bench_speakers",
    "convert_transcript",
    "devices",
    "run",
    "transcribe",
]

RENDERERS: dict[str, Callable[[Iterable[Caption]], str]] = {
    "txt": formats.to_text,
    "srt": formats.to_srt,
    "vtt": formats.to_vtt,
    "json": formats.to_json,
}

# What ``canvascap bench`` needs beyond a plain install: checked before any audio flows.
_BENCH_MODULES = ("jiwer", "whisper_normalizer", "matplotlib")


def run(args: argparse.Namespace) -> int:
    """``run`` and ``demo``: live captions from the microphone or a file."""
    input_path = str(demo_clip()) if args.command == "demo" else args.input
    overrides: list[str] = []
    if getattr(args, "source", None) == "browser":
        if input_path or args.no_overlay:
            raise UserError("--source browser needs the overlay server: drop --input/--no-overlay")
        overrides.append('stages.source={"use": "source.browser"}')
    elif input_path:
        realtime = True if args.command == "demo" or args.realtime is None else args.realtime
        overrides += file_source_overrides(input_path, realtime)
    elif getattr(args, "device", None) is not None:
        overrides.append(f"stages.source.options.device={json.dumps(args.device)}")
    if args.out:
        overrides.append(f"sinks.transcript.options.out_dir={json.dumps(args.out)}")
    if args.overwrite:
        overrides.append("sinks.transcript.options.overwrite=true")
    overrides += _platform_overrides(args)
    if getattr(args, "profanity", None):
        overrides.append(f"display.profanity={args.profanity}")
    for flag in ("host", "port", "tls_cert", "tls_key"):
        if getattr(args, flag) is not None:
            overrides.append(f"sinks.overlay.options.{flag}={json.dumps(getattr(args, flag))}")
    overrides += _model_overrides(args)
    overrides += translate_overrides(args, load_config(args.config, overrides))
    config = load_config(args.config, overrides + args.overrides)
    if args.no_overlay:
        sinks = {k: v for k, v in config.sinks.items() if v.use != "sink.overlay"}
        config = config.model_copy(update={"sinks": sinks})
    ctx = session_context(_session_name(args, input_path), config)
    pipeline = Pipeline.build(config, ctx)
    urls = ctx.report.urls

    def ready() -> None:
        if "overlay" in urls:
            say(f"overlay {urls['overlay']} (OBS browser source); control page {urls['control']}")
        if "mic" in urls:
            say(f"remote microphone: open {urls['mic']} in the speaker's browser")
        say(f"captioning {input_path or 'the microphone'}; Ctrl-C stops")

    status = run_session(
        pipeline,
        on_ready=ready,
        on_stop=lambda: say("stopping after the last words (Ctrl-C again to quit now)"),
    )
    if pipeline.stop_reason:
        say(f"stopped: {pipeline.stop_reason}")
    written = [str(path) for path in ctx.report.files if path.exists()]
    if written:
        say(f"transcript: {', '.join(written)}")
    return status


def transcribe(args: argparse.Namespace) -> int:
    """``transcribe``: a whole file as fast as possible, to stdout or a file."""
    from canvascap.stages.sinks.collect import CollectSink

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
    ctx = session_context(_session_name(args, args.file), config)
    collector = CollectSink(CollectSink.Options(progress=sys.stderr.isatty()), ctx)
    status = run_session(Pipeline.build(config, ctx, extra_sinks={"collect": collector}))
    finals = collector.finals
    speakers = SpeakerOptions.model_validate(config.stages["asr"].options.get("speakers", {}))
    if speakers.enabled and finals:
        # The whole file has been heard: cluster every voice at once and revise the labels.
        from canvascap.stages.sources.file import decode_whole
        from canvascap.stages.speakers.labeler import relabel_offline

        finals = relabel_offline(finals, decode_whole(args.file), speakers)
    text = RENDERERS[fmt](finals)
    _write_out(text, args.output)
    return status


def convert_transcript(args: argparse.Namespace) -> int:
    """``transcript convert``: subtitles or text rebuilt from a session's JSON lines."""
    path = Path(args.jsonl)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror} (give a session's .jsonl)") from None
    captions: list[Caption] = []
    first_lang: dict[int, str] = {}  # the spoken line of an id comes first
    damaged = 0
    for line in lines:
        try:
            record = json.loads(line)
            spoken = first_lang.setdefault(record["id"], record["lang"]) == record["lang"]
            captions.append(formats.caption_from_record(record, spoken))
        except (ValueError, KeyError, TypeError):
            damaged += 1  # e.g. a line cut short when an old version crashed
    if not captions:
        raise UserError(f"{path} holds no transcript lines: give a session's .jsonl file")
    if damaged:
        say(f"{damaged} damaged line(s) of {path} skipped")
    wanted = [
        c
        for c in captions
        if (c.lang == args.lang and not c.spoken and not c.stand_in if args.lang else c.spoken)
    ]
    if not wanted:
        langs = sorted({c.lang for c in captions if not c.spoken})
        raise UserError(
            f"{path} has no '{args.lang}' translation (it has: {', '.join(langs) or 'none'})"
        )
    text = RENDERERS[args.format](wanted)
    _write_out(text, args.output)
    return 0


def models(args: argparse.Namespace) -> int:
    """``models list | fetch | remove``: the CPU translation models on this machine."""
    from canvascap.model_store import fetch_pair, installed_pairs, remove_pair
    from canvascap.stages.translation.engines.marian import default_models_dir

    folder = default_models_dir()
    if args.models_command == "list":
        for pair in installed_pairs(folder):
            print(pair)
        say(f"models folder: {folder}")
        return 0
    pairs = _pairs(args.pairs)
    for pair in pairs:
        if args.models_command == "remove":
            say(f"{pair}: {'removed' if remove_pair(pair, folder) else 'not installed'}")
            continue
        fetch_pair(pair, folder, _progress_line(pair))
        say(f"{pair}: fetched and checked, in {folder / pair}")
    return 0


def _pairs(text: str) -> list[str]:
    """``en-es,fr`` as pairs: a bare language is from English."""
    pairs = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        pair = part if "-" in part else f"en-{part}"
        source, _, target = pair.partition("-")
        if not (source.isalpha() and target.isalpha()):
            raise UserError(f"'{part}' is not a language pair: give e.g. en-es or es")
        pairs.append(pair)
    return pairs


def _progress_line(pair: str) -> Callable[[str, int, int], None]:
    """Progress on stderr: a line per file, redrawn on a terminal."""
    interactive = sys.stderr.isatty()
    shown: dict[str, int] = {}

    def show(name: str, done: int, total: int) -> None:
        percent = 100 * done // total if total else 0
        if not interactive and shown.get(name, -10) + 10 > percent and done != total:
            return
        shown[name] = percent
        end = "\r" if interactive and done != total else "\n"
        sys.stderr.write(f"canvascap: {pair} {name}: {done / 1e6:.1f} MB ({percent}%){end}")
        sys.stderr.flush()

    return show


def devices() -> int:
    """``devices``: list capture devices, the default one marked."""
    from canvascap.stages.sources.mic import NO_DEVICE, list_input_devices

    found = list_input_devices()
    if not found:
        raise UserError(NO_DEVICE)
    for device in found:
        mark = "*" if device.is_default else " "
        print(
            f"{mark} {device.index:3d}  {device.name}  ({device.channels} ch, "
            f"{device.default_samplerate:.0f} Hz)"
        )
    return 0


def bench(args: argparse.Namespace) -> int:
    """``bench``: stream a manifest's speech through the pipeline and measure it."""
    if not args.manifest:
        raise UserError("bench needs --manifest FILE (e.g. ../shared/data/manifest.tsv)")
    missing = [name for name in _BENCH_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"bench needs {', '.join(missing)}: pip install 'canvascap[bench]'")
    from canvascap.bench.soak import run_soak
    from canvascap.bench.stream import run_bench

    # Ctrl-C and `kill` stop a bench at once, even when started from a script that
    # ignores SIGINT (a background job): a bench holds nothing that needs draining.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _interrupt)
    try:
        if args.soak is not None:
            summary = run_soak(Path(args.manifest), Path(args.report), hours=args.soak)
            print(json.dumps(summary, indent=2))
            say(f"soak report written to {args.report}/soak.md")
            return 0
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
    except KeyboardInterrupt:
        say("bench interrupted; no report written")
        return 130
    print(json.dumps(report, indent=2))
    say(f"report written to {args.report}/")
    return 0


def bench_speakers(args: argparse.Namespace) -> int:
    """``bench speakers``: DER of the speaker labels against RTTM references, and cost."""
    rttms = [Path(name) for name in args.rttm]
    for rttm in rttms:
        if not rttm.is_file() or not rttm.with_suffix(".wav").is_file():
            raise UserError(
                f"{rttm}: need an RTTM file with its recording ({rttm.stem}.wav) beside it"
            )
    from canvascap.bench.diarization import run as run_diarization

    report = run_diarization(rttms, runs=args.runs, config=args.config, collar_s=args.collar)
    print(json.dumps(report, indent=2))
    return 0


def bench_mic(args: argparse.Namespace) -> int:
    """``bench mic``: glass-to-glass latency of the browser microphone."""
    if importlib.util.find_spec("playwright") is None:
        raise UserError("bench mic needs playwright: pip install 'canvascap[bench]'")
    from canvascap.bench.remote_mic import measure

    audio = Path(args.audio) if args.audio else demo_clip()
    if not audio.is_file():
        raise UserError(f"cannot read {audio}: give a recording with --audio")
    print(json.dumps(measure(audio, seconds=args.seconds, runs=args.runs), indent=2))
    return 0


def _write_out(text: str, output: str | None) -> None:
    """``text`` to the file ``-o`` names, or to stdout."""
    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write {output}: {error.strerror}") from None


def _platform_overrides(args: argparse.Namespace) -> list[str]:
    """Sinks for ``--zoom-url``, ``--youtube-url`` and ``--obs``."""
    overrides = []
    for platform in ("zoom", "youtube"):
        url = getattr(args, f"{platform}_url", None)
        if url is None:
            continue
        options: dict[str, str] = {"url": url} if url else {}
        if lang := getattr(args, f"{platform}_lang", None):
            options["lang"] = lang
        sink = {"use": f"sink.{platform}", "options": options}
        overrides.append(f"sinks.{platform}={json.dumps(sink)}")
    if getattr(args, "obs", None):
        obs: dict[str, str] = {"url": args.obs}
        if args.obs_password:
            obs["password"] = args.obs_password
        if args.obs_lang:
            obs["lang"] = args.obs_lang
        overrides.append(f"sinks.obs={json.dumps({'use': 'sink.obs', 'options': obs})}")
    return overrides


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _model_overrides(args: argparse.Namespace) -> list[str]:
    overrides = []
    for flag, key in (("model", "model"), ("lang", "language"), ("task", "task")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"asr.{key}={json.dumps(value)}")
    if getattr(args, "speakers", False):
        overrides.append("asr.speakers.enabled=true")
    if getattr(args, "glossary", None):
        overrides.append(f"asr.glossary={json.dumps(args.glossary)}")
    return overrides


def _session_name(args: argparse.Namespace, input_path: str | None) -> str:
    if getattr(args, "session", None):
        return str(args.session)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{Path(input_path).stem}" if input_path else stamp
