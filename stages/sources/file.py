"""A source that reads any audio or video file FFmpeg can decode.

PyAV (already needed by faster-whisper) decodes and resamples to 16 kHz mono in a
worker thread. With ``realtime`` on, frames are released at the pace they would arrive
from a microphone, which is what demos, the overlay and latency measurements need;
with it off the file is read as fast as the pipeline takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import wave
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from canvascap.captions.audio import SAMPLE_RATE, pcm16_to_float
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import AudioFrame

__all__ = ["FileSource", "decode_whole", "probe_duration_s"]

log = logging.getLogger(__name__)

_BLOCK_BYTES = SAMPLE_RATE * 2 // 4  # hand decoded audio to the loop in 0.25 s blocks
_ESTIMATED_DURATION = frozenset({"mp3", "aac", "ac3", "eac3", "adts"})
TRUNCATION_S = 0.5
"""Audio missing at the end beyond this makes a file count as cut short."""


class FileSource:
    """Reads a file and emits 16 kHz mono ``AudioFrame``s."""

    accepts: ClassVar[type | None] = None
    emits: ClassVar[type | None] = AudioFrame

    class Options(BaseModel):
        """Options of ``source.file``."""

        model_config = ConfigDict(extra="forbid")

        path: str
        """The file to read: wav, flac, mp3, ogg, m4a, mp4, mkv, ..."""
        realtime: bool = True
        """Release audio at 1x speed, as a microphone would."""
        frame_ms: Literal[10, 20, 30] = 20
        """Frame length; webrtcvad accepts 10, 20 or 30 ms."""

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "source"
        self.options = options
        self.ctx = ctx
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="file-source")

    async def prepare(self) -> None:
        """Fail early on a missing, unreadable or silent-only file."""
        self.ctx.report.media_duration_s = await asyncio.get_running_loop().run_in_executor(
            self._executor, probe_duration_s, self.options.path
        )

    async def run(self, inbox: Receiver[Any], outbox: Sender[AudioFrame]) -> None:
        """Decode, cut into frames, pace, and send."""
        loop = asyncio.get_running_loop()
        frame_bytes = SAMPLE_RATE * self.options.frame_ms // 1000 * 2
        report = DecodeReport()
        blocks = _decode_pcm16(self.options.path, report)
        clock = self.ctx.clock
        start_ns = self.ctx.report.audio_started_ns = clock.now_ns()
        pending = b""
        samples_sent = 0
        try:
            while True:
                block = await loop.run_in_executor(self._executor, next, blocks, None)
                if block is None:
                    if pending:
                        pending += b"\0" * (frame_bytes - len(pending))
                    else:
                        break
                else:
                    pending += block
                while len(pending) >= frame_bytes:
                    pcm, pending = pending[:frame_bytes], pending[frame_bytes:]
                    start_s = samples_sent / SAMPLE_RATE
                    samples_sent += frame_bytes // 2
                    origin_ns = clock.now_ns()
                    if self.options.realtime:
                        due_ns = start_ns + samples_sent * 1_000_000_000 // SAMPLE_RATE
                        if due_ns > origin_ns:
                            await asyncio.sleep((due_ns - origin_ns) / 1e9)
                        origin_ns = due_ns
                    await outbox.send(AudioFrame(pcm, SAMPLE_RATE, start_s, origin_ns))
                if block is None:
                    break
        finally:
            await loop.run_in_executor(self._executor, blocks.close)
        for warning in report.warnings(self.options.path):
            log.warning("%s", warning)
            self.ctx.metrics.count("source.damaged_input")

    async def aclose(self) -> None:
        """Release the decoding thread."""
        self._executor.shutdown(wait=False)


def probe_duration_s(path: str) -> float | None:
    """Check that a file holds decodable audio; return how long it says it is.

    Raises a ``UserError`` for a missing file, a format FFmpeg does not read, a file
    without sound, and one whose data decodes to no audio at all.
    """
    import av

    file = Path(path)
    if not file.exists():
        raise UserError(f"input file not found: {path} (check the path)")
    if not file.is_file():
        raise UserError(f"input is not a file: {path} (give an audio or video file)")
    try:
        with av.open(str(file)) as container:
            if not container.streams.audio:
                raise UserError(f"{path} has no audio stream: give a file that contains sound")
            stream = container.streams.audio[0]
            duration = _declared_duration_s(path, container, stream)
            for packet in container.demux(stream):
                with contextlib.suppress(av.FFmpegError):
                    if packet.decode():
                        return duration
    except av.FFmpegError as error:
        raise UserError(
            f"cannot decode {path}: not an audio or video format FFmpeg reads "
            f"({error.strerror or error}); convert it to wav, flac or mp3"
        ) from None
    raise UserError(
        f"{path} holds no audio that can be decoded (its data is damaged or not sound): "
        "check the file, or convert it again"
    )


@dataclass
class DecodeReport:
    """What decoding a file found besides the audio: for the warnings at its end."""

    declared_s: float | None = None
    """How long the file says it is (its header), if it says."""
    decoded_s: float = 0.0
    reached_s: float = 0.0
    """File time up to which data was read, damaged stretches included."""
    damaged: list[tuple[float, float | None]] = field(default_factory=list)
    """Stretches of file time whose data could not be decoded (end ``None``: to the end)."""

    def warnings(self, path: str) -> list[str]:
        """One line per problem, each naming the time range."""
        lines = [
            f"{path}: could not decode {_span(start, end)} (damaged data); the rest is captioned"
            for start, end in self.damaged
        ]
        if self.declared_s is not None and self.reached_s < self.declared_s - TRUNCATION_S:
            lines.append(
                f"{path} ends at {_clock(self.reached_s)} although it says it lasts "
                f"{_clock(self.declared_s)}: the file is cut short; captioned up to "
                f"{_clock(self.reached_s)}"
            )
        return lines


def decode_whole(path: str) -> np.ndarray:
    """A whole file as float32 16 kHz mono, as the pipeline heard it (blocking)."""
    return pcm16_to_float(b"".join(_decode_pcm16(path, DecodeReport())))


def _decode_pcm16(path: str, report: DecodeReport) -> Generator[bytes, None, None]:
    """Yield s16le 16 kHz mono blocks; skip damaged data, noting where it was."""
    import av

    with av.open(path) as container:
        stream = container.streams.audio[0]
        report.declared_s = _declared_duration_s(path, container, stream)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        buffered = bytearray()
        bad_from: float | None = None
        base = stream.time_base
        for packet in container.demux(stream):
            at = float(packet.pts * base) if packet.pts is not None and base else None
            try:
                frames = packet.decode()
            except av.FFmpegError:
                if bad_from is None:
                    bad_from = at if at is not None else report.decoded_s
                continue
            if bad_from is not None:
                report.damaged.append((bad_from, at))
                bad_from = None
            for frame in frames:
                report.decoded_s += frame.samples / frame.sample_rate
                end_s = at + frame.samples / frame.sample_rate if at is not None else None
                report.reached_s = max(report.reached_s, end_s or report.decoded_s)
                for out in resampler.resample(frame):
                    buffered += out.to_ndarray().tobytes()
            if len(buffered) >= _BLOCK_BYTES:
                yield bytes(buffered)
                buffered.clear()
        if bad_from is not None:
            report.damaged.append((bad_from, None))
        for out in resampler.resample(None):
            buffered += out.to_ndarray().tobytes()
        if buffered:
            yield bytes(buffered)


def _declared_duration_s(path: str, container: Any, stream: Any) -> float | None:
    """The length a file declares: a WAV header's data size, else the container's. For
    raw streams (mp3, aac) FFmpeg only estimates it from the bit rate, so none is used."""
    if Path(path).suffix.lower() == ".wav":
        with contextlib.suppress(wave.Error, EOFError, OSError):
            with wave.open(path) as header:
                return float(header.getnframes() / header.getframerate())
    if set(container.format.name.split(",")) & _ESTIMATED_DURATION:
        return None
    if container.duration is not None:
        return float(container.duration / 1_000_000)
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _span(start: float, end: float | None) -> str:
    return f"{_clock(start)}-{_clock(end)}" if end is not None else f"from {_clock(start)} on"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"
