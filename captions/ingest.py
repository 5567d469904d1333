"""Audio sent to the pipeline from elsewhere: a remote participant's browser microphone.

The web server receives it (``/ingest``) and a source stage turns it into frames; this
is the hand-off point between the two, so neither knows the other. One sender at a
time: a second is refused while the first is connected. Each block names the index of
its first sample (counted by the sender at 16 kHz), so audio the sender dropped or the
network lost shows up as a gap, which is counted and never stretched into the
timeline; audio sent twice is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.pipeline.metrics import Metrics

__all__ = ["AudioIngest"]


@dataclass
class AudioIngest:
    """Takes 16 kHz mono PCM16 blocks from one sender and passes them on in order."""

    metrics: Metrics
    deliver: Callable[[bytes], None] | None = None
    """Where the audio goes (set by the source stage while it runs)."""
    sender: object | None = None
    stream: str | None = None
    """The sending page's stream: a page that reconnects goes on counting its samples."""
    next_sample: int | None = None
    """The index of the next sample expected (``None``: a new stream, any)."""
    gap_samples: int = 0
    connections: int = 0
    accepting: bool = False
    """Whether a source stage of this session takes network audio (``open()``); the
    web server refuses senders otherwise."""

    def open(self) -> None:
        """A source stage takes this audio: senders may connect."""
        self.accepting = True

    def claim(self, sender: object, stream: str) -> bool:
        """Make ``sender`` (a connection sending ``stream``) the one who sends, unless
        another one already does."""
        if self.sender is not None and self.sender is not sender:
            self.metrics.count("source.senders_refused")
            return False
        self.sender = sender
        if stream != self.stream:
            self.stream, self.next_sample = stream, None
        self.connections += 1
        return True

    def release(self, sender: object) -> None:
        """``sender`` has gone: another may send."""
        if self.sender is sender:
            self.sender = None

    def push(self, sender: object, first_sample: int, pcm: bytes) -> None:
        """Take a block whose first sample has index ``first_sample``."""
        if sender is not self.sender or self.deliver is None:
            return
        if self.next_sample is None:
            self.next_sample = first_sample
        if first_sample > self.next_sample:
            missing = first_sample - self.next_sample
            self.gap_samples += missing
            self.metrics.count("source.gap_ms", round(missing * 1000 / SAMPLE_RATE))
        elif first_sample < self.next_sample:
            repeated = (self.next_sample - first_sample) * 2
            pcm = pcm[repeated:]
        if not pcm:
            return
        self.next_sample = max(self.next_sample, first_sample) + len(pcm) // 2
        self.deliver(pcm)
