"""Voice activity detection: cuts the audio stream into utterances.

``Segmenter`` is a pure state machine over webrtcvad's per-frame decisions. It opens a
segment once enough recent frames are voiced (keeping some pre-roll so first syllables
are not clipped), closes it after ``hangover_ms`` of silence, forces a split at
``max_segment_s``, and while a segment is open emits a partial snapshot every
``partial_every_ms`` of new audio. webrtcvad costs microseconds per frame, so the stage
runs inline on the event loop. It is only an endpointer: music and noise pass as
"speech" here and are rejected later by the recogniser's speech gate.
"""

from __future__ import annotations

import sys
import types
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from canvascap.captions.audio import SAMPLE_RATE, pcm16_to_float
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import AudioFrame, Utterance

__all__ = ["Segment", "Segmenter", "VadOptions", "VadStage"]


class VadOptions(BaseModel):
    """Options of ``vad.webrtc``."""

    model_config = ConfigDict(extra="forbid")

    aggressiveness: int = Field(2, ge=0, le=3)
    """webrtcvad mode: 0 lets most sound through as speech, 3 the least."""
    frame_ms: Literal[10, 20, 30] = 20
    start_ms: int = Field(120, ge=10)
    """Voiced audio within the last ``2 * start_ms`` needed to open a segment."""
    preroll_ms: int = Field(300, ge=0)
    """Audio kept from before the segment opened."""
    hangover_ms: int = Field(500, ge=10)
    """Silence that closes a segment."""
    short_segment_ms: int = Field(0, ge=0)
    """A segment shorter than this (pre-roll included, the pause not) ..."""
    short_hangover_ms: int = Field(500, ge=10)
    """... closes only after this much silence: a brief pause after a few words is
    rarely the end of a sentence, and Whisper decodes a short fragment alone badly."""
    tail_ms: int = Field(300, ge=0)
    """Silence kept at the end of a closed segment; Whisper invents words in longer tails."""
    partial_every_ms: int = Field(500, ge=0)
    """New audio between partial snapshots; 0 turns partials off."""
    max_segment_s: float = Field(15.0, gt=1, le=29)
    """Longest segment before a forced split (Whisper sees at most 30 s)."""
    min_voiced_ms: int = Field(200, ge=0)
    """Segments with less voiced audio than this are dropped as clicks."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A snapshot produced by the segmenter, in samples from the stream start."""

    final: bool
    audio: np.ndarray
    start_sample: int
    end_sample: int


class Segmenter:
    """Pure segmentation logic over frames already classified as speech or not."""

    def __init__(self, options: VadOptions) -> None:
        self.options = options
        frame = options.frame_ms
        self._window: deque[bool] = deque(maxlen=max(1, 2 * options.start_ms // frame))
        self._start_frames = max(1, options.start_ms // frame)
        self._preroll: deque[np.ndarray] = deque(maxlen=options.preroll_ms // frame)
        self._hangover_frames = max(1, options.hangover_ms // frame)
        self._short_hangover_frames = max(1, options.short_hangover_ms // frame)
        self._short_frames = options.short_segment_ms // frame
        self._tail_frames = options.tail_ms // frame
        self._partial_frames = options.partial_every_ms // frame
        self._max_frames = int(options.max_segment_s * 1000 // frame)
        self._min_voiced_frames = options.min_voiced_ms // frame
        self._frames: list[np.ndarray] = []
        self._segment_start = 0
        self._position = 0
        self._silent_run = 0
        self._voiced = 0
        self._since_partial = 0
        self._partials_sent = False

    @property
    def open(self) -> bool:
        """Whether a segment is in progress."""
        return bool(self._frames)

    def push(self, samples: np.ndarray, is_speech: bool) -> list[Segment]:
        """Feed one frame; return the snapshots it completes."""
        position = self._position
        self._position += len(samples)
        self._window.append(is_speech)
        if not self._frames:
            if sum(self._window) >= self._start_frames and is_speech:
                self._frames = [*self._preroll, samples]
                self._segment_start = position - sum(len(f) for f in self._preroll)
                self._preroll.clear()
                self._silent_run, self._voiced, self._since_partial = 0, 1, 1
                self._partials_sent = False
            else:
                self._preroll.append(samples)
            return []

        self._frames.append(samples)
        self._since_partial += 1
        if is_speech:
            self._silent_run = 0
            self._voiced += 1
        else:
            self._silent_run += 1
        if self._silent_run >= self._closing_silence():
            return self._close()
        if len(self._frames) >= self._max_frames:
            segments = self._close()
            self._window.clear()
            return segments
        if (
            self._partial_frames
            and self._since_partial >= self._partial_frames
            and self._voiced >= self._min_voiced_frames
        ):
            self._since_partial = 0
            self._partials_sent = True
            return [self._snapshot(final=False)]
        return []

    def _closing_silence(self) -> int:
        """Frames of silence that close the open segment."""
        if len(self._frames) - self._silent_run < self._short_frames:
            return self._short_hangover_frames
        return self._hangover_frames

    def flush(self) -> list[Segment]:
        """End of stream: close the open segment, if any."""
        return self._close() if self._frames else []

    def _close(self) -> list[Segment]:
        keep = self._voiced >= self._min_voiced_frames or self._partials_sent
        excess = self._silent_run - self._tail_frames
        if excess > 0:
            del self._frames[-excess:]
        segment = self._snapshot(final=True) if keep else None
        self._frames = []
        self._preroll.clear()
        return [segment] if segment else []

    def _snapshot(self, final: bool) -> Segment:
        audio = np.concatenate(self._frames)
        return Segment(final, audio, self._segment_start, self._segment_start + len(audio))


class _CoreVad:
    """webrtcvad's ``Vad`` over its C core, for when its Python module cannot load."""

    def __init__(self, mode: int | None = None) -> None:
        import _webrtcvad

        self._core = _webrtcvad
        self._vad = _webrtcvad.create()
        _webrtcvad.init(self._vad)
        if mode is not None:
            self.set_mode(mode)

    def set_mode(self, mode: int) -> None:
        self._core.set_mode(self._vad, mode)

    def is_speech(self, buf: bytes, sample_rate: int, length: int | None = None) -> bool:
        return bool(self._core.process(self._vad, sample_rate, buf, length or len(buf) // 2))


def webrtcvad_module() -> Any:
    """The ``webrtcvad`` module, importable whichever package installed it.

    Speaker labels install Resemblyzer, which depends on the original ``webrtcvad``
    package: its module file can replace webrtcvad-wheels' and imports
    ``pkg_resources``, which setuptools 81 removed. Both share the same C core, so a
    module over that core stands in (for Resemblyzer's import too) when it fails.
    """
    try:
        import webrtcvad
    except ImportError:
        import _webrtcvad

        webrtcvad = types.ModuleType("webrtcvad")
        webrtcvad.Vad = _CoreVad  # type: ignore[attr-defined]
        webrtcvad.valid_rate_and_frame_length = _webrtcvad.valid_rate_and_frame_length  # type: ignore[attr-defined]
        sys.modules["webrtcvad"] = webrtcvad
    return webrtcvad


class VadStage:
    """``vad.webrtc``: AudioFrame in, Utterance snapshots out."""

    accepts: ClassVar[type | None] = AudioFrame
    emits: ClassVar[type | None] = Utterance
    Options = VadOptions

    def __init__(self, options: VadOptions, ctx: Context) -> None:
        self.name = "vad"
        self.options = options
        self.ctx = ctx
        self._vad = webrtcvad_module().Vad(options.aggressiveness)
        self._segmenter = Segmenter(options)
        self._next_id = 0
        self._rev = 0

    async def prepare(self) -> None:
        """Nothing to load."""

    async def aclose(self) -> None:
        """Nothing to release."""

    async def run(self, inbox: Receiver[AudioFrame], outbox: Sender[Utterance]) -> None:
        """Classify each frame and forward the snapshots the segmenter completes."""
        frame_bytes = SAMPLE_RATE * self.options.frame_ms // 1000 * 2
        pending = b""
        origin_ns = 0
        async for frame in inbox:
            origin_ns = frame.origin_ns
            pending += frame.pcm
            while len(pending) >= frame_bytes:
                pcm, pending = pending[:frame_bytes], pending[frame_bytes:]
                is_speech = self._vad.is_speech(pcm, SAMPLE_RATE)
                for segment in self._segmenter.push(pcm16_to_float(pcm), is_speech):
                    await outbox.send(self._utterance(segment, origin_ns))
        for segment in self._segmenter.flush():
            await outbox.send(self._utterance(segment, origin_ns or self.ctx.clock.now_ns()))

    def _utterance(self, segment: Segment, origin_ns: int) -> Utterance:
        utterance = Utterance(
            id=self._next_id,
            rev=self._rev,
            final=segment.final,
            audio=segment.audio,
            start_s=segment.start_sample / SAMPLE_RATE,
            end_s=segment.end_sample / SAMPLE_RATE,
            origin_ns=origin_ns,
        )
        if segment.final:
            self._next_id += 1
            self._rev = 0
        else:
            self._rev += 1
        return utterance
