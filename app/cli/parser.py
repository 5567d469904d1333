"""The ``canvascap`` command line: one sub-command per job, and the flags they share."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn, TypeAlias

from canvascap import __version__
from canvascap.cli.translate import add_llm_options, add_translate_options

__all__ = ["FORMATS", "build_parser"]

FORMATS = ("txt", "srt", "vtt", "json")

Commands: TypeAlias = "argparse._SubParsersAction[Any]"
"""Where a sub-command adds itself."""


class _Parser(argparse.ArgumentParser):
    """Flag errors as one line that names the flag and where help is, with no usage dump."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with ``canvascap COMMAND: error: MESSAGE``."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per job."""
    parser = _Parser(
        prog="canvascap",
        description="Real-time captions from a microphone, system audio or a file.",
    )
    parser.add_argument("--version", action="version", version=f"canvascap {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_run, _demo, _transcribe, _transcript, _llm, _models, _bench, _devices):
        add(commands)
    return parser


def _run(commands: Commands) -> None:
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
        "--source",
        choices=("mic", "browser"),
        default=None,
        help="'browser': captions the microphone of a browser that opens the /mic page "
        "(a remote participant; over the network it needs --host and HTTPS)",
    )
    run.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --input, play the file at 1x speed as if live (default: on)",
    )
    add_session_options(run)
    add_model_options(run)
    add_translate_options(run)


def _demo(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="live captions of a bundled speech clip (no microphone needed)",
        description="Caption a bundled public-domain recording (JFK, 1961) in real time, "
        "exactly as 'canvascap run --input' would.",
    )
    add_session_options(demo)
    add_model_options(demo)
    add_translate_options(demo)


def _transcribe(commands: Commands) -> None:
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
    transcribe.add_argument(
        "--glossary", metavar="FILE", help="YAML names and terms to recognise (keep: [...])"
    )
    add_model_options(transcribe)


def _transcript(commands: Commands) -> None:
    transcript = commands.add_parser(
        "transcript",
        help="work with the transcripts of earlier sessions",
        description="Tools for the JSON-lines transcripts canvascap writes.",
    )
    transcript_commands = transcript.add_subparsers(
        dest="transcript_command", required=True, metavar="COMMAND"
    )
    convert = transcript_commands.add_parser(
        "convert",
        help="rebuild subtitles or text from a session's JSON lines",
        description="Rebuild SRT, WebVTT or plain text from a session's .jsonl transcript "
        "(of this version or an older one), e.g. after a crash.",
    )
    convert.add_argument("jsonl", metavar="SESSION.jsonl", help="the session's JSON lines")
    convert.add_argument("--format", choices=("srt", "vtt", "txt"), default="srt")
    convert.add_argument(
        "--lang", metavar="LANG", help="a translation's subtitles (default: the spoken words)"
    )
    convert.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")


def _llm(commands: Commands) -> None:
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
    check.add_argument(
        "--config",
        metavar="PRESET",
        help="take the translation settings of this preset or YAML file, e.g. vllm-fp8",
    )
    add_llm_options(check)
    check.add_argument("-v", "--verbose", action="store_true", help="log details")


def _models(commands: Commands) -> None:
    models = commands.add_parser(
        "models",
        help="the CPU translation models: list, fetch, remove language pairs",
        description="Translation models for --translate without --llm, one folder per "
        "language pair in $CANVASCAP_MODELS (default ~/.cache/canvascap/models). Fetched "
        "from the model hub, or from $CANVASCAP_MODELS_URL (a mirror with <pair>/SHA256SUMS); "
        "every file is checked before use, and a cut download resumes.",
    )
    models_commands = models.add_subparsers(dest="models_command", required=True, metavar="COMMAND")
    models_commands.add_parser("list", help="the pairs on this machine")
    for name, what in (("fetch", "download and check"), ("remove", "delete")):
        action = models_commands.add_parser(name, help=f"{what} language pairs")
        action.add_argument(
            "pairs",
            metavar="PAIRS",
            help="pairs (en-es,en-fr) or target languages (es,fr: from English)",
        )


def _devices(commands: Commands) -> None:
    commands.add_parser(
        "devices",
        help="list audio input devices",
        description="List audio input devices; '*' marks the default.",
    )


def _bench(commands: Commands) -> None:
    bench = commands.add_parser(
        "bench",
        help="measure latency, accuracy, phantom captions and cost",
        description="Stream a manifest's speech at 1x through the whole pipeline with a feed "
        "client connected, time every word (first partial, final), score WER against the "
        "references and an offline pass, count captions on non-speech, and write "
        "report.json, report.md and latency.png. 'bench translate' measures the LLM backend, "
        "'bench speakers' the speaker labels, 'bench mic' a remote browser microphone.",
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
        "--soak",
        type=float,
        metavar="HOURS",
        help="instead: stream this many hours of the manifest's clips at full speed with a "
        "feed client connected, sampling memory, event-loop lag and final lag (soak.md)",
    )
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
    for add in (_bench_translate, _bench_speakers, _bench_mic):
        add(bench_commands)


def _bench_translate(bench_commands: Commands) -> None:
    translate_bench = bench_commands.add_parser(
        "translate",
        help="request latency, lines per canvas and translation lag of the LLM backend",
        description="Send packed translation requests to the backend and report the median "
        "and p90 request latency and how many lines each canvas carried; then play a "
        "recording at 1x through the whole pipeline and report, per language, the lag "
        "from a caption becoming final to its translation being final (p50, p90).",
    )
    translate_bench.add_argument(
        "--audio", metavar="FILE", help="recording for the lag (default: the demo clip)"
    )
    translate_bench.add_argument(
        "--quality",
        action="store_true",
        help="instead: chrF of NTREX-128 lines translated as live captions (packed, "
        "pinned) and one per request, against the references (needs --mt)",
    )
    translate_bench.add_argument(
        "--mt", metavar="DIR", help="folder of ntrex128.*.txt files (e.g. ../shared/data/mt)"
    )
    translate_bench.add_argument(
        "--cpu",
        action="store_true",
        help="instead: the CPU engine (Marian models) while tiny.en recognises speech: "
        "translation lag per language, English caption latency with and without "
        "translation, CPU per audio second and memory per pair (needs --manifest)",
    )
    translate_bench.add_argument(
        "--manifest",
        metavar="TSV",
        help="speech clips for --cpu (e.g. ../shared/data/manifest.tsv)",
    )
    translate_bench.add_argument(
        "--models", metavar="DIR", help="pair models for --cpu (default: $CANVASCAP_MODELS)"
    )
    translate_bench.add_argument(
        "--runs", type=_positive_int, default=3, help="shifted runs for --cpu (3)"
    )
    translate_bench.add_argument(
        "--lines", type=_positive_int, default=40, help="NTREX lines to score (40)"
    )
    translate_bench.add_argument(
        "--config", metavar="PRESET", help="preset for the lag, e.g. low-latency (default: default)"
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


def _bench_speakers(bench_commands: Commands) -> None:
    speakers_bench = bench_commands.add_parser(
        "speakers",
        help="diarization error rate of the speaker labels, and their CPU cost",
        description="Caption each RTTM file's recording (the .wav beside it) with speaker "
        "labels and score the diarization error rate (missed speech, false alarm, speaker "
        "confusion) of the live labels and of the whole-file relabelling against the RTTM; "
        "compare CPU seconds per audio second with and without labels (medians over runs).",
    )
    speakers_bench.add_argument(
        "--rttm",
        metavar="FILE",
        nargs="+",
        required=True,
        help="reference speaker turns, e.g. ../shared/data/multispeaker/falcon_3speakers.rttm",
    )
    speakers_bench.add_argument(
        "--collar", type=float, default=0.25, help="unscored seconds around reference turns"
    )
    speakers_bench.add_argument(
        "--config", metavar="PRESET", help="preset to measure (default: default)"
    )
    speakers_bench.add_argument("--runs", type=_positive_int, default=3, help="passes (3)")
    speakers_bench.add_argument("-v", "--verbose", action="store_true", help="log details")


def _bench_mic(bench_commands: Commands) -> None:
    mic_bench = bench_commands.add_parser(
        "mic",
        help="glass-to-glass latency of a remote browser microphone",
        description="Run a session with --source browser, play a recording into headless "
        "Chromium's fake microphone on the /mic page, and time each caption revision from "
        "the capture of its newest audio to its arrival back in the browser (medians).",
    )
    mic_bench.add_argument(
        "--audio", metavar="FILE", help="recording to play (default: the demo clip)"
    )
    mic_bench.add_argument("--seconds", type=float, default=30.0, help="per run (30)")
    mic_bench.add_argument("--runs", type=_positive_int, default=3, help="sessions (3)")
    mic_bench.add_argument("-v", "--verbose", action="store_true", help="log details")


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """The overlay server's flags, the transcript's, and the platforms'."""
    add_server_options(parser)
    add_platform_options(parser)
    parser.add_argument(
        "--out", metavar="DIR", help="folder for transcripts (default: ./transcripts)"
    )
    parser.add_argument(
        "--session", metavar="NAME", help="transcript file name (default: date and time)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the transcript of an earlier session of the same name "
        "(default: write NAME-2, NAME-3, ...)",
    )


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--port``, ``--tls-cert``/``--tls-key``, ``--profanity``, ``--no-overlay``."""
    parser.add_argument(
        "--host",
        metavar="ADDR",
        help="overlay server address (default: 127.0.0.1; any other address requires a token)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        metavar="PORT",
        help="overlay server port (default: 8765; 0 picks a free one)",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="serve the overlay pages over HTTPS with this certificate (browsers allow "
        "the /mic page's microphone from another computer only over HTTPS)",
    )
    parser.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    parser.add_argument(
        "--profanity",
        choices=("off", "mask"),
        help="'mask' shows listed words as f*** on screen, in subtitles and on other "
        "platforms (partials too); the JSON transcript keeps them (default: off)",
    )
    parser.add_argument(
        "--no-overlay", action="store_true", help="do not serve the browser overlay"
    )


def add_platform_options(parser: argparse.ArgumentParser) -> None:
    """``--zoom-url``, ``--youtube-url``, ``--obs`` and which line each takes."""
    for platform, where in (("zoom", "a Zoom meeting"), ("youtube", "a YouTube live stream")):
        parser.add_argument(
            f"--{platform}-url",
            nargs="?",
            const="",
            metavar="URL",
            help=f"also send captions to {where} at this caption URL (without URL: from "
            f"$CANVASCAP_{platform.upper()}_URL)",
        )
        parser.add_argument(
            f"--{platform}-lang",
            metavar="LANG",
            help=f"which line goes to {where}: a translation target (default: the spoken one)",
        )
    parser.add_argument(
        "--obs",
        nargs="?",
        const="ws://127.0.0.1:4455",
        metavar="URL",
        help="also send captions into the OBS stream as CEA-608 closed captions, through "
        "OBS's WebSocket server (default URL: ws://127.0.0.1:4455)",
    )
    parser.add_argument(
        "--obs-password",
        metavar="PASSWORD",
        help="OBS WebSocket password (or set $CANVASCAP_OBS_PASSWORD, kept out of ps)",
    )
    parser.add_argument(
        "--obs-lang", metavar="LANG", help="which line goes to OBS: a translation target"
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--lang``, ``--task``, ``--speakers``, ``--config``, ``--set``, ``-v``."""
    parser.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="Whisper model: tiny.en or base (built in, offline), any faster-whisper "
        "model name (downloaded on first use), or a CTranslate2 model folder",
    )
    parser.add_argument(
        "--lang",
        metavar="auto|CODE[,CODE...]",
        help="spoken language, e.g. en, es, de; several (en,fr): the languages people "
        "may speak, one detected per utterance among them; 'auto' detects any "
        "(non-English needs a multilingual model such as base)",
    )
    parser.add_argument(
        "--task",
        choices=("transcribe", "translate"),
        help="'translate' gives Whisper's own translation of the speech into English "
        "(needs a multilingual model such as base)",
    )
    parser.add_argument(
        "--speakers",
        action="store_true",
        help="label each caption with who said it (S1, S2, ...; names with --set "
        "asr.speakers.names.S1=Ana); needs pip install 'canvascap[speakers]'",
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


def _port(text: str) -> int:
    """argparse type: a TCP port, or 0 for any free one."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a port: give 0-65535 (0 picks a free one)"
        )
    return value


def _positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return value
