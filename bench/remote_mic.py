"""Glass-to-glass latency of a remote microphone: from a browser capturing the audio to
the caption arriving back in a browser.

    canvascap bench mic [--audio FILE] [--seconds 30]

A session runs with ``--source browser``; headless Chromium's fake capture device plays
the recording into the ``/mic`` page, and the same browser holds the caption feed. The
page's sends are timed (the block's first sample and ``Date.now()``), and so is every
caption revision received, in the same clock. A revision's latency is the time it
arrived minus the time the newest audio it covers (``end_s``) was captured; the
overlay paints it within a frame after that.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from canvascap.bench.browser import chromium, fake_microphone
from canvascap.captions.audio import SAMPLE_RATE, write_wav
from canvascap.pipeline.config import load_config
from canvascap.pipeline.runner import Pipeline
from canvascap.services import session_context
from canvascap.stages.sources.file import decode_whole
from canvascap.web.server import OverlayOptions, OverlaySink

__all__ = ["measure"]

# Runs in the /mic page: times each block sent (by the index of its first sample) and
# each caption revision received on the feed.
_INSTRUMENT = """(feedUrl) => {
  window.__sent = [];
  window.__captions = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (data instanceof Uint8Array && data.byteLength > 8) {
      const first = Number(new DataView(data.buffer).getBigUint64(0, true));
      window.__sent.push([first, (data.byteLength - 8) / 2, Date.now()]);
    }
    return send.call(this, data);
  };
  const feed = new WebSocket(feedUrl);
  feed.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "caption" && message.text && message.role === "spoken") {
      window.__captions.push([message.final, message.end_s, Date.now()]);
    }
  };
}"""


def _captured_ms(sent: list[list[float]], sample: float) -> float | None:
    """When the block holding ``sample`` (counted from the first block) was sent."""
    if not sent:
        return None
    base = sent[0][0]
    for first, count, at in sent:
        if first - base <= sample < first - base + count:
            return at
    return None


async def _session(audio: Path, seconds: float) -> dict[str, Any]:
    config = load_config(None, ['stages.source={"use": "source.browser"}', "sinks={}"])
    ctx = session_context("bench-mic", config)
    overlay = OverlaySink(OverlayOptions(port=0), ctx)
    pipeline = Pipeline.build(config, ctx, extra_sinks={"overlay": overlay})
    ready = asyncio.Event()
    running = asyncio.create_task(pipeline.run(on_ready=ready.set))
    try:
        await ready.wait()
        async with chromium(*fake_microphone(audio)) as browser:
            page = await browser.new_page(bypass_csp=True)
            await page.goto(ctx.report.urls["mic"])
            await page.evaluate(_INSTRUMENT, ctx.report.urls["feed"])
            await page.click("#start")
            await asyncio.sleep(seconds)
            sent = await page.evaluate("window.__sent")
            captions = await page.evaluate("window.__captions")
    finally:
        pipeline.stop()
        await running
    latency: dict[str, list[float]] = {"partial": [], "final": []}
    for final, end_s, arrived in captions:
        captured = _captured_ms(sent, end_s * SAMPLE_RATE)
        if captured is not None:
            latency["final" if final else "partial"].append((arrived - captured) / 1000)
    return {"latency": latency, "gap_ms": ctx.metrics.counters.get("source.gap_ms", 0)}


def measure(audio: Path, seconds: float = 30.0, runs: int = 3) -> dict[str, Any]:
    """Median glass-to-glass latency of partials and finals over ``runs`` sessions."""
    clip = decode_whole(str(audio))
    padded = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clip])
    looped = Path(f"/tmp/canvascap-bench-mic-{id(clip)}.wav")
    write_wav(looped, padded)
    medians: dict[str, list[float]] = {"partial": [], "final": []}
    revisions = {"partial": 0, "final": 0}
    gaps = 0
    try:
        for _ in range(runs):
            result = asyncio.run(_session(looped, seconds))
            gaps += result["gap_ms"]
            for kind, values in result["latency"].items():
                revisions[kind] += len(values)
                if values:
                    medians[kind].append(statistics.median(values))
    finally:
        looped.unlink(missing_ok=True)
    return {
        "runs": runs,
        "seconds_per_run": seconds,
        "revisions": revisions,
        "partial_s_p50": _median(medians["partial"]),
        "final_s_p50": _median(medians["final"]),
        "per_run_final_s_p50": [round(v, 3) for v in medians["final"]],
        "gap_ms": gaps,
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None
