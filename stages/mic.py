"""``source.mic``: live audio from a microphone (or any capture device) via PortAudio.

The only module that imports ``sounddevice``. The PortAudio callback runs on the audio
thread and never blocks: it hands each block to the event loop, whose ``drop_oldest``
audio edge sheds the oldest audio if the pipeline ever falls behind. Overflows reported
by the driver are counted. On Linux, system audio (what a meeting app plays) can be
captioned by choosing the output's ``.monitor`` source as the device.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from canvascap.pipeline.audio import SAMPLE_RATE
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
        """Open the stream and forward frames until cancelled."""
        sd = _sounddevice()
        device = self._device or find_device(self.options.device)
        loop = asyncio.get_running_loop()
        frame_samples = SAMPLE_RATE * self.options.frame_ms // 1000
        clock, metrics = self.ctx.clock, self.ctx.metrics
        captured = 0

        def deliver(pcm: bytes, origin_ns: int) -> None:
            nonlocal captured
            start_s = captured / SAMPLE_RATE
            captured += len(pcm) // 2
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

        try:
            stream = sd.RawInputStream(
                samplerate=SAMPLE_RATE,
                channels=1,
                dtype="int16",
                blocksize=frame_samples,
                device=device.index,
                callback=callback,
            )
        except sd.PortAudioError as error:
            raise UserError(
                f"cannot open input device '{device.name}' at 16 kHz mono: {error}; "
                "pick another with --device (see 'canvascap devices')"
            ) from None
        self.ctx.report.audio_started_ns = clock.now_ns()
        with stream:
            await asyncio.Event().wait()  # until the runner cancels the source

    async def aclose(self) -> None:
        """The stream is closed when ``run`` ends; nothing else is held."""
