"""A source that reads any audio or video file FFmpeg can decode.

PyAV (already needed by faster-whisper) decodes and resamples to 16 kHz mono in a
worker thread. With ``realtime`` on, frames are released at the pace they would arrive
from a microphone, which is what demos, the overlay and latency measurements need;
with it off the file is read as fast as the pipeline takes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from canvascap.pipeline.audio import SAMPLE_RATE
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import AudioFrame

__all__ = ["FileSource", "probe_duration_s"]

log = logging.getLogger(__name__)

_BLOCK_BYTES = SAMPLE_RATE * 2 // 4  # hand decoded audio to the loop in 0.25 s blocks


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
        blocks = _decode_pcm16(self.options.path)
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

    async def aclose(self) -> None:
        """Release the decoding thread."""
        self._executor.shutdown(wait=False)


def probe_duration_s(path: str) -> float | None:
    """Open a file as PyAV would and return its duration, or raise a ``UserError``."""
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
            if container.duration is not None:
                return float(container.duration / av.time_base)
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return None
    except av.FFmpegError as error:
        raise UserError(
            f"cannot decode {path}: not an audio or video format FFmpeg reads "
            f"({error.strerror or error}); convert it to wav, flac or mp3"
        ) from None


def _decode_pcm16(path: str) -> Generator[bytes, None, None]:
    """Yield s16le 16 kHz mono blocks; stop quietly at a corrupt tail."""
    import av

    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        buffered = bytearray()
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    buffered += out.to_ndarray().tobytes()
                if len(buffered) >= _BLOCK_BYTES:
                    yield bytes(buffered)
                    buffered.clear()
        except av.FFmpegError as error:
            log.warning("decoding %s stopped early: %s", path, error)
        for out in resampler.resample(None):
            buffered += out.to_ndarray().tobytes()
        if buffered:
            yield bytes(buffered)
