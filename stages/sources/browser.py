"""``source.browser``: live audio from a browser's microphone, sent over the network.

A remote participant opens the overlay server's ``/mic`` page; it captures the
microphone with ``getUserMedia``, resamples it to 16 kHz in an AudioWorklet and sends
PCM over the ``/ingest`` WebSocket (``web.server``). Received blocks come through the
session's ``AudioIngest`` and leave here as frames, timed by the samples received (a
gap is counted in ``source.gap_ms``, never stretched into the timeline). The audio edge
after this stage drops the oldest audio if the pipeline ever falls behind, so a burst
after a network hiccup is bounded. Needs the overlay server (``sink.overlay``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.captions.ingest import AudioIngest
from canvascap.pipeline.channel import Closed, Full, Receiver, Sender
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import AudioFrame

__all__ = ["BrowserSource"]

log = logging.getLogger(__name__)


class BrowserSource:
    """Frames from the browser that sends audio to ``/ingest``."""

    accepts: ClassVar[type | None] = None
    emits: ClassVar[type | None] = AudioFrame

    class Options(BaseModel):
        """Options of ``source.browser`` (none yet)."""

        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "source"
        self.options = options
        self.ctx = ctx
        ingest = ctx.services.get(AudioIngest)
        if ingest is None:
            ingest = ctx.services.add(AudioIngest(ctx.metrics))
        ingest.open()
        self.ingest = ingest

    async def prepare(self) -> None:
        """Nothing to open: the overlay server takes the connections."""

    async def run(self, inbox: Receiver[Any], outbox: Sender[AudioFrame]) -> None:
        """Turn received blocks into frames until the session ends."""
        samples = 0

        def deliver(pcm: bytes) -> None:
            nonlocal samples
            now = self.ctx.clock.now_ns()
            if self.ctx.report.audio_started_ns is None:
                self.ctx.report.audio_started_ns = now
                log.info("audio from the browser microphone")
            start_s = samples / SAMPLE_RATE
            samples += len(pcm) // 2
            try:
                outbox.send_nowait(AudioFrame(pcm, SAMPLE_RATE, start_s, now))
            except Full:
                self.ctx.metrics.count("source.frames_dropped")
            except Closed:
                pass

        self.ingest.deliver = deliver
        try:
            await asyncio.Event().wait()  # until the session is stopped
        finally:
            self.ingest.deliver = None

    async def aclose(self) -> None:
        """Nothing to release."""
