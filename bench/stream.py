"""``canvascap bench``: speech-to-screen latency, accuracy, phantoms and cost.

1. Joins the speech clips of a manifest into one stream, with silence and low noise
   between them, and the non-speech clips into another.
2. Offline baseline, in the same run: non-streaming faster-whisper over the speech
   stream (same model, word timestamps). Its words give each word's end time in the
   audio; its WER and real-time factor are the reference every figure is read against.
3. Plays the speech stream at 1x through the whole pipeline with a WebSocket client on
   the overlay feed, and times every word as the client sees it: first in a partial,
   then in a final. Then the non-speech stream, counting captions that should not exist.

Writes ``report.json``, ``report.md``, ``latency.png``, and the finals' text next to the
reference (``finals.txt``, ``reference.txt``) into the report folder.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from canvascap.captions.audio import SAMPLE_RATE, write_wav
from canvascap.pipeline.errors import UserError

__all__ = ["run_bench"]


@dataclass(frozen=True)
class TimedWord:
    """A word of the offline alignment: normalised text and end time in the stream."""

    norm: str
    end_s: float


@dataclass(frozen=True)
class Seen:
    """A caption message as the feed client received it."""

    message: dict[str, Any]
    at_ns: int


def _norm_word(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


def read_manifest(path: Path, lang: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Speech rows in ``lang`` and non-speech rows of a manifest (TSV, as shared/data)."""
    try:
        with path.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError as error:
        raise UserError(f"cannot read manifest {path}: {error.strerror}") from None
    if not rows or not {"path", "kind", "lang", "reference"} <= set(rows[0]):
        raise UserError(f"{path} is not a manifest: it needs columns path, kind, lang, reference")
    speech = [r for r in rows if r["kind"] in ("speech", "longform") and r["lang"] == lang]
    nonspeech = [r for r in rows if r["kind"] == "nonspeech"]
    return speech, nonspeech


def join_clips(paths: list[Path], gap_s: float, seed: int = 0, lead_s: float = 0.0) -> np.ndarray:
    """Clips in order, each followed by silence then low noise (-50 dBFS), 16 kHz mono;
    the stream starts with up to ``lead_s`` more silence, drawn from ``seed``."""
    from faster_whisper import decode_audio

    rng = np.random.default_rng(seed)
    half = int(gap_s * SAMPLE_RATE / 2)
    lead = np.zeros(int(rng.uniform(0, lead_s) * SAMPLE_RATE), dtype=np.float32)

    def gap() -> list[np.ndarray]:
        noise = rng.normal(0, 10 ** (-50 / 20), half).astype(np.float32)
        return [np.zeros(half, dtype=np.float32), noise]

    pieces = [lead, *gap()]
    for path in paths:
        pieces += [decode_audio(str(path)), *gap()]
    return np.concatenate(pieces)


def offline_baseline(audio: np.ndarray, model: str) -> tuple[list[TimedWord], str, float]:
    """Words with end times, the text, and the real-time factor of a non-streaming pass."""
    import ctranslate2
    from faster_whisper import WhisperModel

    from canvascap.stages.recognition.whisper_models import resolve_model

    whisper = WhisperModel(resolve_model(model), device="cpu", compute_type="int8")
    # faster-whisper re-decodes hard stretches by sampling at higher temperatures; a
    # fixed seed makes the baseline the same every time the same stream is measured.
    ctranslate2.set_random_seed(0)
    started = time.monotonic()
    segments, _ = whisper.transcribe(
        audio,
        language="en" if model.endswith(".en") else None,
        word_timestamps=True,
        vad_filter=True,
        beam_size=5,
    )
    segments = list(segments)
    rtf = (time.monotonic() - started) / (len(audio) / SAMPLE_RATE)
    words = [
        TimedWord(_norm_word(w.word), w.end)
        for s in segments
        for w in (s.words or ())
        if _norm_word(w.word)
    ]
    return words, " ".join(s.text.strip() for s in segments), rtf


async def stream_through(
    wav: Path, overrides: list[str], config: str | None = None
) -> tuple[list[Seen], int, float]:
    """Play a file at 1x through the pipeline; a feed client records every message."""
    from websockets.asyncio.client import connect

    from canvascap.pipeline.runner import Pipeline
    from canvascap.services import session_context
    from canvascap.testing import file_config

    overlay = {"overlay": {"use": "sink.overlay", "options": {"port": 0}}}
    built = file_config(
        str(wav),
        realtime=True,
        overrides=[f"sinks={json.dumps(overlay)}", *overrides],
        config=config,
    )
    ctx = session_context("bench", built)
    pipeline = Pipeline.build(built, ctx)
    ready = asyncio.Event()
    seen: list[Seen] = []
    cpu_before = time.process_time()
    running = asyncio.create_task(pipeline.run(on_ready=ready.set))
    await ready.wait()
    async with connect(ctx.report.urls["feed"], max_size=None) as client:
        _progress("audio flows; a feed client times every revision")

        async def listen() -> None:
            async for raw in client:
                message = json.loads(raw)
                if message["type"] == "caption":
                    seen.append(Seen(message, time.monotonic_ns()))

        listening = asyncio.create_task(listen())
        await running
        listening.cancel()
    cpu_s = time.process_time() - cpu_before
    started_ns = ctx.report.audio_started_ns
    if started_ns is None:
        raise UserError(f"{wav} gave no audio to measure")
    return seen, started_ns, cpu_s


def word_latencies(
    words: list[TimedWord], seen: list[Seen], started_ns: int, slack_s: float = 0.6
) -> tuple[list[float], list[float], int]:
    """Per word: seconds from its end in the audio to its first partial and to its final."""
    first, final, missed = [], [], 0
    shown_words = _shown_words(seen)
    for word in words:
        end_ns = started_ns + int(word.end_s * 1e9)
        shown: dict[bool, int] = {}
        for item, norms in zip(seen, shown_words, strict=True):
            m = item.message
            if not m["start_s"] - slack_s <= word.end_s <= m["end_s"] + slack_s:
                continue
            if word.norm in norms:
                shown.setdefault(m["final"], item.at_ns)
        if True not in shown:
            missed += 1
            continue
        final.append((shown[True] - end_ns) / 1e9)
        first.append((min(shown.values()) - end_ns) / 1e9)
    return first, final, missed


def _shown_words(seen: list[Seen]) -> list[set[str]]:
    """The normalised words each message shows; a piece that continues the previous
    piece's last word also shows the whole word ("just" + "ly" = "justly")."""
    last_final: dict[tuple[int, str], str] = {}
    result = []
    for item in seen:
        m = item.message
        words = m["text"].split()
        norms = {_norm_word(w) for w in words}
        key = (m.get("utterance", -1), m["lang"])
        before = last_final.get(key, "").split()
        if m.get("continues_word") and words and before:
            norms.add(_norm_word(before[-1] + words[0]))
        if m["final"] and m["text"] and key[0] >= 0:
            last_final[key] = m["text"]
        result.append(norms)
    return result


def rewrite_rate(seen: list[Seen]) -> float:
    """Share of displayed words that a later revision of the same line changed."""
    last: dict[tuple[int, str], list[str]] = {}
    shown = changed = 0
    for item in seen:
        m = item.message
        key = (m["id"], m["lang"])
        words = [_norm_word(w) for w in m["text"].split()]
        before = last.get(key)
        if before is not None:
            changed += sum(1 for i, w in enumerate(before) if i >= len(words) or words[i] != w)
        shown += len(words)
        last[key] = words
    return changed / shown if shown else 0.0


def _texts(seen: list[Seen]) -> tuple[str, str]:
    """All final text, and the last partial before each final, in caption order."""
    finals: dict[int, str] = {}
    last_partial: dict[int, str] = {}
    glued: set[int] = set()
    for item in seen:
        m = item.message
        if m["final"]:
            finals.setdefault(m["id"], m["text"])
            if m.get("continues_word"):
                glued.add(m["id"])
        else:
            last_partial[m["id"]] = m["text"]

    def joined(texts: dict[int, str]) -> str:
        return "".join(("" if i in glued else " ") + texts[i] for i in sorted(finals)).strip()

    return joined(finals), joined({i: last_partial.get(i, finals[i]) for i in finals})


def _wer(reference: str, hypothesis: str) -> float:
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    return float(jiwer.wer(normalize(reference), normalize(hypothesis)))


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


@dataclass
class SpeechRun:
    """One pass of the speech stream: what the client saw, scored."""

    first: list[float]
    final: list[float]
    missed: int
    final_text: str
    wer: dict[str, float]
    rewrite_rate: float
    cpu_per_audio_s: float
    rtf_offline: float
    audio_s: float

    def summary(self) -> dict[str, Any]:
        """This run's figures, as listed per run in report.json."""
        return {
            "latency": {
                "first_partial": {"p50": _pct(self.first, 50), "p90": _pct(self.first, 90)},
                "final": {"p50": _pct(self.final, 50), "p90": _pct(self.final, 90)},
            },
            "wer": self.wer,
            "words_timed": len(self.final),
            "words_missed": self.missed,
            "rewrite_rate": round(self.rewrite_rate, 4),
            "cpu_per_audio_s": round(self.cpu_per_audio_s, 3),
            "rtf_offline": round(self.rtf_offline, 3),
        }


def _progress(message: str) -> None:
    print(f"canvascap: bench: {message}", file=sys.stderr, flush=True)


def speech_run(
    paths: list[Path],
    reference: str,
    run: int,
    gap_s: float,
    model: str,
    lang: str,
    settings: list[str],
    config: str | None,
    folder: Path,
) -> SpeechRun:
    """Offline baseline and streaming pass over one version of the speech stream.

    Run 0 is the stream as joined; every later run has other noise between the clips
    and starts up to a quarter second later, so partials fall at other moments. A
    greedy tiny model turns such small differences into a few different words, which
    is why one run alone is not a measurement.
    """
    audio = join_clips(paths, gap_s, seed=run, lead_s=0.25 if run else 0.0)
    wav = write_wav(folder / f"speech-{run}.wav", audio)
    _progress(f"run {run + 1}: offline pass over {len(audio) / SAMPLE_RATE:.0f} s of speech")
    words, offline_text, rtf = offline_baseline(audio, model)
    _progress(f"run {run + 1}: streaming {len(audio) / SAMPLE_RATE:.0f} s of speech at 1x")
    seen, started_ns, cpu_s = asyncio.run(stream_through(wav, settings, config))
    source = [s for s in seen if s.message["lang"] == lang]
    first, final, missed = word_latencies(words, source, started_ns)
    final_text, partial_text = _texts(source)
    audio_s = len(audio) / SAMPLE_RATE
    return SpeechRun(
        first=first,
        final=final,
        missed=missed,
        final_text=final_text,
        wer={
            "final": round(_wer(reference, final_text), 4),
            "last_partial": round(_wer(reference, partial_text), 4),
            "offline": round(_wer(reference, offline_text), 4),
        },
        rewrite_rate=rewrite_rate(source),
        cpu_per_audio_s=cpu_s / audio_s,
        rtf_offline=rtf,
        audio_s=audio_s,
    )


def run_bench(
    manifest: Path,
    report_dir: Path,
    model: str = "tiny.en",
    lang: str = "en",
    gap_s: float = 1.5,
    nonspeech: bool = True,
    overrides: list[str] | None = None,
    config: str | None = None,
    runs: int = 1,
) -> dict[str, Any]:
    """Run everything and write the report; return report.json's content."""
    speech, noise = read_manifest(manifest, lang)
    if not speech:
        raise UserError(f"{manifest} lists no {lang} speech clips")
    base = manifest.parent
    settings = [f"asr.model={model}", *(overrides or [])]
    reference = " ".join(r["reference"] for r in speech)
    paths = [base / r["path"] for r in speech]
    with tempfile.TemporaryDirectory() as folder:
        passes = [
            speech_run(paths, reference, run, gap_s, model, lang, settings, config, Path(folder))
            for run in range(runs)
        ]
        phantoms, nonspeech_s = 0, 0.0
        if nonspeech and noise:
            quiet = join_clips([base / r["path"] for r in noise], gap_s)
            nonspeech_s = len(quiet) / SAMPLE_RATE
            _progress(f"streaming {nonspeech_s:.0f} s of non-speech at 1x")
            quiet_seen, _, _ = asyncio.run(
                stream_through(write_wav(Path(folder) / "nonspeech.wav", quiet), settings, config)
            )
            phantoms = len({s.message["id"] for s in quiet_seen if s.message["text"]})
    report = _report(passes, model, runs, phantoms, nonspeech_s, config, settings)
    _write_report(report_dir, report, passes, reference)
    return report


def _write_report(
    report_dir: Path, report: dict[str, Any], passes: list[SpeechRun], reference: str
) -> None:
    """report.json, report.md, the finals of each run, the reference and the histogram."""
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (report_dir / "report.md").write_text(_markdown(report))
    # To see which words were wrong: the finals as a viewer read them, and the reference.
    for run, one in enumerate(passes):
        name = "finals.txt" if run == 0 else f"finals-{run}.txt"
        (report_dir / name).write_text(f"{one.final_text}\n", encoding="utf-8")
    (report_dir / "reference.txt").write_text(f"{reference}\n", encoding="utf-8")
    _histogram(
        report_dir / "latency.png",
        [x for p in passes for x in p.first],
        [x for p in passes for x in p.final],
    )


def _report(
    passes: list[SpeechRun],
    model: str,
    runs: int,
    phantoms: int,
    nonspeech_s: float,
    config: str | None,
    settings: list[str],
) -> dict[str, Any]:
    """report.json's figures: medians over runs, and ratios taken within each run."""
    per_run = [p.summary() for p in passes]
    report: dict[str, Any] = {
        "model": model,
        "runs": runs,
        "audio_s": round(passes[0].audio_s, 1),
        "words_timed": _median(per_run, "words_timed"),
        "words_missed": _median(per_run, "words_missed"),
        "latency": {
            kind: {q: _median(per_run, f"latency.{kind}.{q}", 3) for q in ("p50", "p90")}
            for kind in ("first_partial", "final")
        },
        "wer": {
            kind: _median(per_run, f"wer.{kind}") for kind in ("final", "last_partial", "offline")
        },
        "rewrite_rate": _median(per_run, "rewrite_rate"),
        "phantom_captions": phantoms,
        "nonspeech_s": round(nonspeech_s, 1),
        "phantom_per_hour": round(phantoms / (nonspeech_s / 3600), 2) if nonspeech_s else None,
        "cpu_per_audio_s": _median(per_run, "cpu_per_audio_s", 3),
        "rtf_offline": _median(per_run, "rtf_offline", 3),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "config": config or "default",
        "settings": settings,
    }
    # Ratios are taken within each run (same stream, same minutes of the machine), then
    # the median of those is reported.
    report["ratios"] = {
        "wer_final_minus_offline": _median_of(
            [r["wer"]["final"] - r["wer"]["offline"] for r in per_run]
        ),
        "cpu_per_audio_s_over_offline_rtf": _median_of(
            [r["cpu_per_audio_s"] / max(r["rtf_offline"], 1e-9) for r in per_run], 2
        ),
    }
    report["per_run"] = per_run
    return report


def _median(rows: list[dict[str, Any]], path: str, digits: int = 4) -> Any:
    """The median over runs of one figure (``None`` if a run has none)."""
    values = []
    for row in rows:
        node: Any = row
        for part in path.split("."):
            node = node[part]
        values.append(node)
    if any(v is None for v in values):
        return None
    if all(isinstance(v, int) for v in values):
        return int(np.median(np.asarray(values)))
    return _median_of([float(v) for v in values], digits)


def _median_of(values: list[float], digits: int = 4) -> float:
    return round(float(np.median(values)), digits)


def _markdown(r: dict[str, Any]) -> str:
    lat = r["latency"]
    rows = [
        (
            "first partial latency p50 / p90 (s)",
            f"{lat['first_partial']['p50']} / {lat['first_partial']['p90']}",
        ),
        ("final latency p50 / p90 (s)", f"{lat['final']['p50']} / {lat['final']['p90']}"),
        (
            "WER final / last partial / offline",
            f"{r['wer']['final']:.3f} / {r['wer']['last_partial']:.3f} / {r['wer']['offline']:.3f}",
        ),
        ("WER final minus offline", f"{r['ratios']['wer_final_minus_offline']:+.3f}"),
        ("rewrite rate", f"{r['rewrite_rate']:.3f}"),
        ("phantom captions per hour of non-speech", str(r["phantom_per_hour"])),
        ("CPU seconds per audio second", str(r["cpu_per_audio_s"])),
        ("offline real-time factor", str(r["rtf_offline"])),
        ("peak RSS (MB)", str(r["rss_peak_mb"])),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    runs = r["runs"]
    text = (
        f"# canvascap bench\n\nPreset {r['config']}, model {r['model']}, "
        f"{r['audio_s']} s of speech at 1x, "
        f"{r['words_timed']} words timed ({r['words_missed']} never in a final)."
    )
    if runs > 1:
        text += f" Medians of {runs} runs (other noise between clips, other start offset)."
    text += f"\n\n| measure | value |\n|---|---|\n{table}\n"
    if runs > 1:
        lines = "\n".join(
            f"| {i} | {p['latency']['first_partial']['p50']} | {p['latency']['final']['p50']} "
            f"/ {p['latency']['final']['p90']} | {p['wer']['final']:.4f} | "
            f"{p['wer']['offline']:.4f} | {p['cpu_per_audio_s']} |"
            for i, p in enumerate(r["per_run"])
        )
        text += (
            "\n| run | first partial p50 (s) | final p50 / p90 (s) | WER final | WER offline "
            f"| CPU s / audio s |\n|---|---|---|---|---|---|\n{lines}\n"
        )
    return text + "\n![latency](latency.png)\n"


def _histogram(path: Path, first: list[float], final: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5), dpi=100)
    bins = list(np.linspace(0, max([*first, *final, 1.0]), 40))
    axis.hist(first, bins=bins, alpha=0.6, label="first partial")
    axis.hist(final, bins=bins, alpha=0.6, label="final")
    axis.set_xlabel("seconds after the word ends in the audio")
    axis.set_ylabel("words")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
