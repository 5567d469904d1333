"""``source.mic``: live audio from a microphone (or any capture device) via PortAudio.

The only module that imports ``sounddevice``. The PortAudio callback runs on the audio
thread and never blocks: it hands each block to the event loop, whose ``drop_oldest``
audio edge sheds the oldest audio if the pipeline ever falls behind. Overflows reported
by the driver are counted. On Linux, system audio (what a meeting app plays) can be
captioned by choosing the output's ``.monitor`` source as the device.

A device that goes away (unplugged, or its sound server restarted) is noticed within
``stall_s``: the stream stops, or no audio arrives. It is reported (a warning, the
health endpoint, the control page) and reopened with back-off until it is back; then
captioning goes on by itself, and the gap is counted (``source.gap_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.pipeline.channel import Closed, Full, Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import AudioFrame

__all__ = ["NO_DEVICE", "InputDevice", "MicSource", "find_device", "list_input_devices"]

NO_DEVICE = (
    "no audio input device found: connect a microphone, or caption a file "
    "with --input FILE (try 'canvascap demo')"
)

log = logging.getLogger(__name__)

WATCH_EVERY_S = 0.25
FIRST_FRAME_S = 5.0
"""Some sound servers take two seconds to deliver the first frames of a new stream."""
REOPEN_FIRST_S = 0.5
REOPEN_MAX_S = 8.0


class InputDevice(BaseModel):
    """A capture device as PortAudio lists it."""

    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError:
        raise UserError(
            "the PortAudio library is missing: install it (Debian/Ubuntu: "
            "apt install libportaudio2; macOS: brew install portaudio)"
        ) from None
    return sounddevice


def list_input_devices() -> list[InputDevice]:
    """Every device that can capture audio, the default one marked."""
    sd = _sounddevice()
    try:
        default_input = sd.default.device[0]
    except Exception:  # noqa: BLE001 - PortAudio reports "no default" in several ways
        default_input = -1
    return [
        InputDevice(
            index=index,
            name=info["name"],
            channels=info["max_input_channels"],
            default_samplerate=info["default_samplerate"],
            is_default=index == default_input,
        )
        for index, info in enumerate(sd.query_devices())
        if info["max_input_channels"] > 0
    ]


def find_device(wanted: str | int | None) -> InputDevice:
    """Pick a device by index, by a case-insensitive name substring, or the default."""
    devices = list_input_devices()
    if not devices:
        raise UserError(NO_DEVICE)
    if wanted is None or wanted == "":
        chosen = next((d for d in devices if d.is_default), devices[0])
        return chosen
    if isinstance(wanted, int) or str(wanted).isdigit():
        for device in devices:
            if device.index == int(wanted):
                return device
    else:
        matches = [d for d in devices if str(wanted).lower() in d.name.lower()]
        exact = [d for d in matches if d.name.lower() == str(wanted).lower()]
        if exact or len(matches) == 1:
            return (exact or matches)[0]
        if matches:
            names = "; ".join(f"{d.index}: {d.name}" for d in matches)
            raise UserError(f"input device '{wanted}' is ambiguous ({names}): give its index")
    raise UserError(
        f"unknown input device '{wanted}': run 'canvascap devices' to list them, "
        "then pass an index or part of a name to --device"
    )


class MicSource:
    """Captures 16 kHz mono int16 frames from a PortAudio input device."""

    accepts: ClassVar[type | None] = None
    emits: ClassVar[type | None] = AudioFrame

    class Options(BaseModel):
        """Options of ``source.mic``."""

        model_config = ConfigDict(extra="forbid")

        device: str | int | None = None
        """Index or part of the name of the input device; the default device if unset."""
        frame_ms: Literal[10, 20, 30] = 20
        stall_s: float = Field(2.0, gt=0)
        """A device that delivers no audio for this long is taken as gone and reopened."""

    def __init__(self, options: Options, ctx: Context) -> None:
        self.name = "source"
        self.options = options
        self.ctx = ctx
        self._device: InputDevice | None = None

    async def prepare(self) -> None:
        """Resolve the device now, so a wrong name fails before the session starts."""
        self._device = find_device(self.options.device)
        log.info("capturing from %d: %s", self._device.index, self._device.name)

    async def run(self, inbox: Receiver[Any], outbox: Sender[AudioFrame]) -> None:
        """Forward frames until cancelled; reopen the device whenever it goes away."""
        sd = _sounddevice()
        device = self._device or find_device(self.options.device)
        loop = asyncio.get_running_loop()
        clock, metrics = self.ctx.clock, self.ctx.metrics
        flow = _Flow()

        def deliver(pcm: bytes, origin_ns: int) -> None:
            # Media time counts only captured audio: a gap while the device was gone
            # is counted, never stretched into the timeline.
            start_s = flow.samples / SAMPLE_RATE
            flow.samples += len(pcm) // 2
            flow.last_ns = origin_ns
            try:
                outbox.send_nowait(AudioFrame(pcm, SAMPLE_RATE, start_s, origin_ns))
            except Full:
                metrics.count("source.frames_dropped")
            except Closed:
                pass

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status.input_overflow:
                metrics.count("source.overflows")
            loop.call_soon_threadsafe(deliver, bytes(indata), clock.now_ns())

        stream = await asyncio.to_thread(self._open, sd, device, callback)
        self.ctx.report.audio_started_ns = clock.now_ns()
        try:
            while True:
                reason = await self._watch(stream, flow)
                lost_ns = clock.now_ns()
                await asyncio.to_thread(_close_quietly, stream)
                metrics.count("source.device_lost")
                metrics.degrade(self.name, f"no audio from {device.name}: {reason}")
                log.warning(
                    "the input device %s %s; reopening it as soon as it is back",
                    device.name,
                    reason,
                )
                stream, device = await self._reopen(sd, callback)
                gap_s = (clock.now_ns() - lost_ns) / 1e9
                metrics.count("source.gap_ms", round(gap_s * 1000))
                metrics.recover(self.name)
                log.warning("audio from %s again after a %.1f s gap", device.name, gap_s)
        finally:
            _close_quietly(stream)

    def _open(self, sd: Any, device: InputDevice, callback: Any) -> Any:
        """Open and start a capture stream, or raise a ``UserError`` naming the fix."""
        try:
            stream = sd.RawInputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=SAMPLE_RATE * self.options.frame_ms // 1000,
                device=device.index,
                callback=callback,
            )
            stream.start()
        except sd.PortAudioError as error:
            raise UserError(
                f"cannot open input device '{device.name}' at 16 kHz mono: {error}; "
                "pick another with --device (see 'canvascap devices')"
            ) from None
        return stream

    async def _watch(self, stream: Any, flow: _Flow) -> str:
        """Wait until the stream fails; say how."""
        clock = self.ctx.clock
        opened_ns = clock.now_ns()
        seen = flow.last_ns
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            now_ns = clock.now_ns()
            if not stream.active:
                return "stopped"
            if flow.last_ns != seen:
                silent_s = (now_ns - flow.last_ns) / 1e9
                if silent_s > self.options.stall_s:
                    return f"delivered no audio for {silent_s:.1f} s"
            elif (now_ns - opened_ns) / 1e9 > FIRST_FRAME_S:
                return f"delivered no audio in the {FIRST_FRAME_S:.0f} s after it opened"

    async def _reopen(self, sd: Any, callback: Any) -> tuple[Any, InputDevice]:
        """Find and open the device again, backing off while it is not there."""
        delay_s = REOPEN_FIRST_S
        while True:
            await asyncio.sleep(delay_s)
            try:
                # PortAudio lists devices once; a sound server that restarted is seen
                # only after it is initialised again.
                device = await asyncio.to_thread(_refresh, sd, self.options.device)
                return await asyncio.to_thread(self._open, sd, device, callback), device
            except (UserError, sd.PortAudioError) as error:
                log.debug("input device not back yet: %s", error)
            delay_s = min(REOPEN_MAX_S, delay_s * 2)

    async def aclose(self) -> None:
        """The stream is closed when ``run`` ends; nothing else is held."""


@dataclass
class _Flow:
    """Audio captured so far, updated on the event loop as frames arrive."""

    samples: int = 0
    last_ns: int = 0


def _refresh(sd: Any, wanted: str | int | None) -> InputDevice:
    """Initialise PortAudio again and find the device anew (blocking)."""
    sd._terminate()
    sd._initialize()
    return find_device(wanted)


def _close_quietly(stream: Any) -> None:
    """Stop and close a stream that may already be broken (blocking)."""
    with contextlib.suppress(Exception):
        stream.close(ignore_errors=True)
