"""Diarization error rate of canvascap's speaker labels against RTTM references.

    canvascap bench speakers --rttm ../shared/data/multispeaker/falcon_3speakers.rttm

The audio is the ``.wav`` beside each RTTM file. Every file is captioned twice with
speaker labels (the online labels a live session shows, then the same finals relabelled
from the whole file, as ``canvascap transcribe --speakers`` does) and once without, to
cost the labels in CPU seconds per audio second. DER is scored here on 10 ms frames:
missed speech, false alarm and speaker confusion over the reference speech, speakers
mapped one to one for the least error, with a collar (0.25 s by default, as NIST's
md-eval) around each reference boundary left unscored.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from canvascap.pipeline.types import Caption
from canvascap.stages.sources.file import decode_whole
from canvascap.stages.speakers.labeler import SpeakerOptions, relabel_offline
from canvascap.testing import caption_file

__all__ = ["Segment", "der", "read_rttm", "run"]

FRAME_S = 0.01


@dataclass(frozen=True, slots=True)
class Segment:
    """Someone speaking from ``start_s`` to ``end_s``."""

    start_s: float
    end_s: float
    speaker: str


def read_rttm(path: Path) -> list[Segment]:
    """The ``SPEAKER`` lines of an RTTM file."""
    segments = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            segments.append(Segment(start, start + duration, fields[7]))
    return segments


def _frames(segments: Sequence[Segment], speakers: list[str], count: int) -> np.ndarray:
    """Who speaks in each frame: a boolean (speaker x frame) matrix."""
    grid = np.zeros((len(speakers), count), dtype=bool)
    for segment in segments:
        first = max(0, round(segment.start_s / FRAME_S))
        last = min(count, round(segment.end_s / FRAME_S))
        grid[speakers.index(segment.speaker), first:last] = True
    return grid


def der(
    reference: Sequence[Segment], hypothesis: Sequence[Segment], collar_s: float = 0.25
) -> dict[str, float]:
    """DER and its parts, as fractions of the scored reference speech."""
    end_s = max([s.end_s for s in [*reference, *hypothesis]], default=0.0)
    count = round(end_s / FRAME_S) + 1
    ref_names = sorted({s.speaker for s in reference})
    hyp_names = sorted({s.speaker for s in hypothesis})
    ref = _frames(reference, ref_names, count)
    hyp = _frames(hypothesis, hyp_names, count)
    scored = np.ones(count, dtype=bool)
    collar = round(collar_s / FRAME_S)
    for segment in reference:
        for edge in (segment.start_s, segment.end_s):
            at = round(edge / FRAME_S)
            scored[max(0, at - collar) : at + collar] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    total = float(n_ref.sum())
    if total == 0:
        return {"der": 0.0, "missed": 0.0, "false_alarm": 0.0, "confusion": 0.0}
    overlap = ref.astype(np.int64) @ hyp.T.astype(np.int64)  # frames each pair shares
    correct = _best_mapping(overlap)
    missed = float(np.maximum(n_ref - n_hyp, 0).sum())
    false_alarm = float(np.maximum(n_hyp - n_ref, 0).sum())
    confusion = float(np.minimum(n_ref, n_hyp).sum()) - correct
    return {
        "der": (missed + false_alarm + confusion) / total,
        "missed": missed / total,
        "false_alarm": false_alarm / total,
        "confusion": confusion / total,
        "speech_s": total * FRAME_S,
    }


def _best_mapping(overlap: np.ndarray) -> float:
    """Frames rightly attributed under the one-to-one speaker mapping that maximises them."""
    rows, cols = overlap.shape
    if rows == 0 or cols == 0:
        return 0.0
    if rows > cols:
        overlap = overlap.T
        rows, cols = cols, rows
    if cols > 8:  # too many to try every mapping: greedy, largest overlap first
        taken_r: set[int] = set()
        taken_c: set[int] = set()
        found = 0.0
        for r, c in sorted(np.ndindex(overlap.shape), key=lambda rc: -overlap[rc]):
            if r not in taken_r and c not in taken_c:
                taken_r.add(r)
                taken_c.add(c)
                found += float(overlap[r, c])
        return found
    return float(
        max(
            sum(overlap[r, c] for r, c in enumerate(columns))
            for columns in itertools.permutations(range(cols), rows)
        )
    )


def segments_of(captions: Sequence[Caption]) -> list[Segment]:
    """The spoken lines' spans, by speaker."""
    return [
        Segment(c.start_s, c.end_s, c.speaker)
        for c in captions
        if c.spoken and c.text and c.speaker
    ]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _captions(audio: Path, speakers: bool, config: str | None) -> tuple[list[Caption], float]:
    overrides = [f"asr.speakers.enabled={'true' if speakers else 'false'}"]
    before = _cpu_s()
    tap, _ = await caption_file(str(audio), overrides=overrides, config=config)
    return tap.finals, _cpu_s() - before


def run(
    rttms: Sequence[Path], runs: int = 3, config: str | None = None, collar_s: float = 0.25
) -> dict[str, object]:
    """DER (live and offline) and the labels' CPU cost for each RTTM's recording."""
    options = SpeakerOptions(enabled=True)
    files: dict[str, object] = {}
    for rttm in rttms:
        audio = rttm.with_suffix(".wav")
        reference = read_rttm(rttm)
        whole = decode_whole(str(audio))
        duration_s = len(whole) / 16_000
        cost_with, cost_without = [], []
        live: list[Caption] = []
        for _ in range(runs):
            # Alternate, so the machine's drift weighs on both alike.
            live, with_s = asyncio.run(_captions(audio, True, config))
            _, without_s = asyncio.run(_captions(audio, False, config))
            cost_with.append(with_s / duration_s)
            cost_without.append(without_s / duration_s)
        offline = relabel_offline(live, whole, options)
        with_s, without_s = statistics.median(cost_with), statistics.median(cost_without)
        files[rttm.stem] = {
            "audio_s": round(duration_s, 1),
            "speakers": len({s.speaker for s in reference}),
            "live": _rounded(der(reference, segments_of(live), collar_s)),
            "offline": _rounded(der(reference, segments_of(offline), collar_s)),
            "labels_found_live": len({c.speaker for c in live if c.speaker}),
            "labels_found_offline": len({c.speaker for c in offline if c.speaker}),
            "cpu_s_per_audio_s": {
                "without_labels": round(without_s, 3),
                "with_labels": round(with_s, 3),
                "labels": round(with_s - without_s, 3),
                "ratio": round(with_s / without_s, 2) if without_s else None,
            },
        }
    return {"collar_s": collar_s, "runs": runs, "files": files}


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in scores.items()}
