"""Word latency of live captions: from the end of a word in the audio to the screen.

Joins clips from a manifest into one stream (with silence between them), plays it
through the default pipeline at 1x speed, and times every word twice: when it first
appears in a partial and when it appears in a final, as a sink sees them. Word end
times come from an offline faster-whisper pass over the same audio with word
timestamps. Also reports the word error rate of the finals against the references.

    python -m bench.latency --manifest ../shared/data/manifest.tsv [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio import SAMPLE_RATE
from pipeline.runner import Pipeline
from pipeline.stage import Context
from pipeline.testing import CaptionTap, file_config
from pipeline.types import Caption


@dataclass(frozen=True)
class TimedWord:
    """A word of the offline reference alignment."""

    norm: str
    end_s: float


def normalize_word(word: str) -> str:
    """Lower case, letters and digits only: how words are matched across passes."""
    return re.sub(r"[^\w]", "", word.lower())


def build_stream(paths: list[Path], gap_s: float, out: Path) -> tuple[Path, float]:
    """Concatenate clips, resampled to 16 kHz mono, with ``gap_s`` of silence between."""
    from faster_whisper import decode_audio

    from tests.conftest import write_wav

    gap = np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32)
    pieces = [gap]
    for path in paths:
        pieces += [decode_audio(str(path)), gap]
    audio = np.concatenate(pieces)
    return write_wav(out, audio), len(audio) / SAMPLE_RATE


def reference_words(path: Path, model: str) -> list[TimedWord]:
    """Offline faster-whisper with word timestamps over the whole stream."""
    from faster_whisper import WhisperModel

    from stages.whisper_models import resolve_model

    whisper = WhisperModel(resolve_model(model), device="cpu", compute_type="int8")
    segments, _ = whisper.transcribe(
        str(path), language="en", word_timestamps=True, vad_filter=True, beam_size=5
    )
    return [
        TimedWord(normalize_word(w.word), w.end)
        for s in segments
        for w in (s.words or ())
        if normalize_word(w.word)
    ]


def first_sighting(
    word: TimedWord, revisions: list[tuple[Caption, int]], final: bool, slack_s: float = 0.6
) -> int | None:
    """Arrival time of the first revision (partial or final) covering and showing ``word``."""
    for caption, at_ns in revisions:
        if caption.final != final and final:
            continue
        if not caption.start_s - slack_s <= word.end_s <= caption.end_s + slack_s:
            continue
        if word.norm in {normalize_word(w) for w in caption.text.split()}:
            return at_ns
    return None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    return float(np.percentile(np.array(values), q)) if values else float("nan")


async def stream_through_pipeline(path: Path, overrides: list[str]) -> tuple[CaptionTap, int]:
    """Play the stream at 1x; return the tap and the wall time of media time 0."""
    tap = CaptionTap()
    pipeline = Pipeline.build(
        file_config(str(path), realtime=True, overrides=overrides),
        Context(session="bench"),
        extra_sinks={"tap": tap},
    )
    await pipeline.run()
    started = getattr(pipeline.nodes[0].stage, "started_ns", None)
    assert started is not None
    return tap, started


def main() -> None:
    """Run the measurement and print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default="../shared/data/manifest.tsv")
    parser.add_argument("--kinds", default="speech", help="comma-separated manifest kinds")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--gap-s", type=float, default=1.5)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    manifest = Path(args.manifest)
    with manifest.open(encoding="utf-8") as handle:
        rows = [
            r
            for r in csv.DictReader(handle, delimiter="\t")
            if r["kind"] in args.kinds.split(",") and r["lang"] == args.lang
        ]
    paths = [manifest.parent / r["path"] for r in rows]
    with tempfile.TemporaryDirectory() as folder:
        stream, audio_s = build_stream(paths, args.gap_s, Path(folder) / "stream.wav")
        reference = reference_words(stream, args.model)
        cpu_before = time.process_time()
        tap, started_ns = asyncio.run(
            stream_through_pipeline(stream, [f"asr.model={args.model}", *args.overrides])
        )
        cpu_s = time.process_time() - cpu_before
    revisions = [(s.caption, s.at_ns) for s in tap.seen]
    partial_lat, final_lat, missed = [], [], 0
    for word in reference:
        word_end_ns = started_ns + int(word.end_s * 1e9)
        first = first_sighting(word, revisions, final=False)
        final = first_sighting(word, revisions, final=True)
        if final is None:
            missed += 1
            continue
        final_lat.append((final - word_end_ns) / 1e9)
        partial_lat.append(((first if first is not None else final) - word_end_ns) / 1e9)

    from jiwer import wer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    refs = normalize(" ".join(r["reference"] for r in rows))
    hyp = normalize(" ".join(c.text for c in tap.finals))
    summary = {
        "words_timed": len(final_lat),
        "words_missed": missed,
        "latency.first_partial.p50": round(statistics.median(partial_lat), 3),
        "latency.first_partial.p90": round(percentile(partial_lat, 90), 3),
        "latency.final.p50": round(statistics.median(final_lat), 3),
        "latency.final.p90": round(percentile(final_lat, 90), 3),
        "wer.final": round(wer(refs, hyp), 4),
        "cpu_s": round(cpu_s, 1),
        "audio_s": round(audio_s, 1),
        "cpu_per_audio_s": round(cpu_s / audio_s, 3),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
