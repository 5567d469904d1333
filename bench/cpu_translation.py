"""``canvascap bench translate --cpu``: translation on this computer's CPU, while it
recognises speech.

Each run plays one version of the speech stream (``bench.stream``: clips joined with
silence and noise, shifted per run) at 1x twice, through the same preset and model:
once without translation, once translating into every target with the Marian engine.
A feed client times every message. Reported, as medians over the runs:

* per language, the lag from a caption becoming final to its translation being final;
* the English finals' latency (each word, from its end in the audio to the client)
  with translation over without, as a ratio measured in the same run;
* CPU seconds per audio second, both ways, and the memory each pair's model takes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from canvascap.bench.stream import (
    Seen,
    join_clips,
    offline_baseline,
    read_manifest,
    stream_through,
    word_latencies,
)
from canvascap.captions.audio import SAMPLE_RATE, write_wav
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import percentile

__all__ = ["pair_memory_mb", "run_cpu_translation", "translation_lags"]


def translation_lags(seen: list[Seen], source: str = "en") -> dict[str, list[float]]:
    """Per language, seconds from each caption's first final to its first real
    (not stand-in) final translation, as the feed client saw them."""
    final_at: dict[int, int] = {}
    lags: dict[str, list[float]] = {}
    done: set[tuple[int, str]] = set()
    for item in seen:
        message = item.message
        key = (message["id"], message["lang"])
        if not message.get("final") or key in done:
            continue
        if message["lang"] == source and message.get("role", "source") != "translation":
            final_at.setdefault(message["id"], item.at_ns)
            continue
        if message.get("stand_in") or message["id"] not in final_at:
            continue
        done.add(key)
        lag = (item.at_ns - final_at[message["id"]]) / 1e9
        lags.setdefault(message["lang"], []).append(lag)
    return lags


def pair_memory_mb(models: Path, pairs: list[str]) -> dict[str, float]:
    """Resident memory each pair's model adds once loaded (MB), measured in turn."""
    from canvascap.stages.translation.engines.marian import MarianModels

    loaded = MarianModels(models)
    out = {}
    for pair in pairs:
        before = _rss_mb()
        loaded.translate([pair], ["Good morning everyone."])
        out[pair] = round(_rss_mb() - before, 1)
    return out


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run_cpu_translation(
    manifest: Path,
    models: Path,
    targets: list[str],
    runs: int = 3,
    model: str = "tiny.en",
    gap_s: float = 1.5,
    config: str | None = None,
) -> dict[str, Any]:
    """Run both passes ``runs`` times; the report's figures are medians over runs."""
    speech, _ = read_manifest(manifest, "en")
    if not speech:
        raise UserError(f"{manifest} lists no English speech clips")
    missing = [t for t in targets if not (models / f"en-{t}").is_dir()]
    if missing:
        raise UserError(
            f"no en-{missing[0]} model in {models}: run 'canvascap models fetch "
            f"{','.join(targets)}' or give --models DIR"
        )
    paths = [manifest.parent / row["path"] for row in speech]
    settings = [f"asr.model={model}"]
    stage = {
        "use": "translate.captions",
        "inbox": {"size": 16, "policy": "coalesce"},
        "options": {"engine": "ctranslate2", "targets": targets, "models": str(models)},
    }
    translating = [*settings, "stages.translate=" + _json(stage)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(runs):
            audio = join_clips(paths, gap_s, seed=run, lead_s=0.25 if run else 0.0)
            wav = write_wav(Path(folder) / f"speech-{run}.wav", audio)
            words, _, _ = offline_baseline(audio, model)
            audio_s = len(audio) / SAMPLE_RATE
            row: dict[str, Any] = {}
            for name, overrides in (("plain", settings), ("translating", translating)):
                seen, started_ns, cpu_s = asyncio.run(stream_through(wav, overrides, config))
                source = [s for s in seen if s.message["lang"] == "en"]
                _, final, _ = word_latencies(words, source, started_ns)
                row[name] = {
                    "final_p50": statistics.median(final),
                    "final_p90": percentile(final, 0.9),
                    "cpu_per_audio_s": cpu_s / audio_s,
                }
                if name == "translating":
                    row["lags"] = translation_lags(seen)
            rows.append(row)
    return _report(rows, targets, models, model, runs)


def _report(
    rows: list[dict[str, Any]], targets: list[str], models: Path, model: str, runs: int
) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    lag = {}
    for lang in targets:
        per_run = [row["lags"].get(lang, []) for row in rows]
        lag[lang] = {
            "p50_s": median([statistics.median(v) for v in per_run if v]),
            "p90_s": median([percentile(v, 0.9) for v in per_run if v]),
            "lines": median([len(v) for v in per_run]),
        }
    ratio = [r["translating"]["final_p50"] / r["plain"]["final_p50"] for r in rows]
    return {
        "asr_model": model,
        "runs": runs,
        "translation_lag": lag,
        "english_final_p50_s": {
            "plain": median([r["plain"]["final_p50"] for r in rows]),
            "translating": median([r["translating"]["final_p50"] for r in rows]),
            "ratio": median(ratio),
        },
        "cpu_per_audio_s": {
            "plain": median([r["plain"]["cpu_per_audio_s"] for r in rows]),
            "translating": median([r["translating"]["cpu_per_audio_s"] for r in rows]),
        },
        "pair_memory_mb": pair_memory_mb(models, [f"en-{t}" for t in targets]),
    }


def _json(value: object) -> str:
    import json

    return json.dumps(value)
