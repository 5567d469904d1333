"""``canvascap bench --soak HOURS``: hours of audio at full speed, watching for slow leaks.

A long stream of the manifest's speech and non-speech clips, in a shuffled order with
pauses of silence and low noise between them, is written to a temporary WAV file and
played through the whole default pipeline as fast as it goes, with a feed client
connected to the overlay. Every ``sample_s`` of wall time the soak notes the process's
memory (RSS), the worst event-loop lag (how late a timer that should fire every 100 ms
ran), and the lag of the finals of that window (from the moment the newest audio in a
final was read to the moment it reached the sinks). A leak shows as RSS that keeps
growing; a backlog as a final lag that keeps growing.

Writes ``soak.json`` and ``soak.md`` (the table) into the report folder.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from canvascap.bench.stream import read_manifest
from canvascap.captions.audio import SAMPLE_RATE, float_to_pcm16
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.testing import NoOptions
from canvascap.pipeline.types import Caption

__all__ = ["run_soak"]

LOOP_TICK_S = 0.1


@dataclass(frozen=True)
class Sample:
    """One window of the soak."""

    wall_s: float
    audio_h: float
    """Media time reached by the finals so far, in hours."""
    rss_mb: float
    loop_lag_ms_max: float
    final_lag_s_p50: float | None
    final_lag_s_p90: float | None
    finals: int


class _FinalLags:
    """A sink that notes each final's lag and how far into the audio the session is."""

    Options: ClassVar[type[BaseModel]] = NoOptions
    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None

    def __init__(self) -> None:
        self.name = "soak"
        self.lags_s: list[float] = []
        self.finals = 0
        self.media_s = 0.0

    async def prepare(self) -> None:
        """Nothing to open."""

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Note each final as it arrives."""
        async for caption in inbox:
            if caption.final and caption.text:
                self.lags_s.append((time.monotonic_ns() - caption.origin_ns) / 1e9)
                self.finals += 1
                self.media_s = max(self.media_s, caption.end_s)

    async def aclose(self) -> None:
        """Nothing to release."""

    def take(self) -> list[float]:
        """The lags noted since the last call."""
        lags, self.lags_s = self.lags_s, []
        return lags


def write_soak_stream(manifest: Path, hours: float, target: Path, seed: int = 0) -> float:
    """Write hours of the manifest's clips, shuffled, with pauses, to a WAV file;
    return its length in seconds. Clips are decoded once and written block by block,
    so memory stays small whatever the length."""
    from faster_whisper import decode_audio

    speech, nonspeech = read_manifest(manifest, "en")
    clips = [decode_audio(str(manifest.parent / row["path"])) for row in [*speech, *nonspeech]]
    if not clips:
        raise UserError(f"{manifest} lists no clips to soak with")
    rng = np.random.default_rng(seed)
    written, wanted = 0, int(hours * 3600 * SAMPLE_RATE)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        while written < wanted:
            clip = clips[int(rng.integers(len(clips)))]
            pause = int(rng.uniform(0.5, 3.0) * SAMPLE_RATE)
            noise = rng.normal(0, 10 ** (-50 / 20), pause).astype(np.float32)
            for piece in (clip, noise):
                out.writeframes(float_to_pcm16(piece))
                written += len(piece)
    return written / SAMPLE_RATE


class _Sampler:
    """Samples memory, event-loop lag and final lag every ``sample_s`` of wall time."""

    def __init__(self, lags: _FinalLags, sample_s: float, on_sample: Any) -> None:
        self.lags = lags
        self.sample_s = sample_s
        self.on_sample = on_sample
        self.started = time.monotonic()
        self.samples: list[Sample] = []
        self.worst_tick_s = 0.0

    def sample(self) -> None:
        """Take one sample of the window since the last."""
        window = self.lags.take()
        self.samples.append(
            Sample(
                wall_s=round(time.monotonic() - self.started, 1),
                audio_h=round(self.lags.media_s / 3600, 3),
                rss_mb=round(_rss_mb(), 1),
                loop_lag_ms_max=round(self.worst_tick_s * 1000, 1),
                final_lag_s_p50=_quantile(window, 0.5),
                final_lag_s_p90=_quantile(window, 0.9),
                finals=self.lags.finals,
            )
        )
        self.worst_tick_s = 0.0
        self.on_sample(self.samples[-1])

    async def watch(self) -> None:
        """Tick the loop, noting the worst lateness, and sample on schedule."""
        next_sample = self.started + self.sample_s
        while True:
            before = time.monotonic()
            await asyncio.sleep(LOOP_TICK_S)
            self.worst_tick_s = max(self.worst_tick_s, time.monotonic() - before - LOOP_TICK_S)
            if time.monotonic() >= next_sample:
                next_sample += self.sample_s
                self.sample()


async def _soak(wav: Path, sample_s: float, on_sample: Any) -> list[Sample]:
    from websockets.asyncio.client import connect

    from canvascap.pipeline.runner import Pipeline
    from canvascap.services import session_context
    from canvascap.testing import file_config

    overlay = {"overlay": {"use": "sink.overlay", "options": {"port": 0}}}
    config = file_config(str(wav), realtime=False, overrides=[f"sinks={json.dumps(overlay)}"])
    ctx = session_context("soak", config)
    lags = _FinalLags()
    pipeline = Pipeline.build(config, ctx, extra_sinks={"soak": lags})
    ready = asyncio.Event()
    running = asyncio.create_task(pipeline.run(on_ready=ready.set))
    await ready.wait()
    sampler = _Sampler(lags, sample_s, on_sample)
    received = 0
    async with connect(ctx.report.urls["feed"], max_size=None) as client:

        async def listen() -> None:
            nonlocal received
            async for _ in client:
                received += 1

        listening = asyncio.create_task(listen())
        watching = asyncio.create_task(sampler.watch())
        await running
        watching.cancel()
        listening.cancel()
        sampler.sample()
    if not received:
        raise UserError("the feed client received nothing during the soak")
    return sampler.samples


def run_soak(
    manifest: Path, report_dir: Path, hours: float, sample_s: float = 10.0
) -> dict[str, Any]:
    """Soak for ``hours`` of audio; write ``soak.json`` and ``soak.md``; return the summary."""

    def progress(sample: Sample) -> None:
        print(
            f"canvascap: soak: {sample.audio_h:.2f} h of audio, RSS {sample.rss_mb:.0f} MB, "
            f"final lag p50 {sample.final_lag_s_p50}",
            file=sys.stderr,
            flush=True,
        )

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "soak.wav"
        audio_s = write_soak_stream(manifest, hours, wav)
        print(f"canvascap: soak: {audio_s / 3600:.2f} h of audio at full speed", file=sys.stderr)
        samples = asyncio.run(_soak(wav, sample_s, progress))
    summary = _summary(samples, audio_s)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "soak.json").write_text(
        json.dumps({"summary": summary, "samples": [asdict(s) for s in samples]}, indent=2)
    )
    (report_dir / "soak.md").write_text(_table(summary, samples))
    return summary


def _summary(samples: list[Sample], audio_s: float) -> dict[str, Any]:
    settled = [s for s in samples if s.audio_h >= 10 / 60] or samples
    first_lags = [s.final_lag_s_p50 for s in settled[: max(1, len(settled) // 10)]]
    last_lags = [s.final_lag_s_p50 for s in settled[-max(1, len(settled) // 10) :]]
    return {
        "audio_h": round(audio_s / 3600, 2),
        "wall_h": round(samples[-1].wall_s / 3600, 2) if samples else 0,
        "rss_mb_after_10_min": settled[0].rss_mb if settled else None,
        "rss_mb_max_after_10_min": max((s.rss_mb for s in settled), default=None),
        "rss_growth_mb_after_10_min": round(max(s.rss_mb for s in settled) - settled[0].rss_mb, 1)
        if settled
        else None,
        "loop_lag_ms_max": max((s.loop_lag_ms_max for s in samples), default=None),
        "final_lag_s_p50_first_tenth": _median([x for x in first_lags if x is not None]),
        "final_lag_s_p50_last_tenth": _median([x for x in last_lags if x is not None]),
        "finals": samples[-1].finals if samples else 0,
    }


def _table(summary: dict[str, Any], samples: list[Sample]) -> str:
    lines = [
        "# canvascap soak",
        "",
        *(f"- {key}: {value}" for key, value in summary.items()),
        "",
        "| wall (s) | audio (h) | RSS (MB) | loop lag max (ms) | final lag p50 / p90 (s) "
        "| finals |",
        "|---|---|---|---|---|---|",
    ]
    step = max(1, len(samples) // 40)
    for s in samples[::step]:
        lines.append(
            f"| {s.wall_s:.0f} | {s.audio_h:.2f} | {s.rss_mb:.0f} | {s.loop_lag_ms_max:.1f} | "
            f"{s.final_lag_s_p50} / {s.final_lag_s_p90} | {s.finals} |"
        )
    return "\n".join(lines) + "\n"


def _rss_mb() -> float:
    """The process's resident memory now (not its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None
