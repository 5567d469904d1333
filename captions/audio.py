"""Audio constants and conversions shared by sources and stages."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

__all__ = ["SAMPLE_RATE", "float_to_pcm16", "pcm16_to_float", "write_wav"]

SAMPLE_RATE = 16_000
"""Every stage after a source works on 16 kHz mono, the rate Whisper and webrtcvad use."""


def pcm16_to_float(pcm: bytes) -> np.ndarray:
    """s16le bytes to float32 samples in [-1, 1)."""
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples to s16le bytes, clipping out-of-range values."""
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    pcm: bytes = (clipped * 32768.0).astype("<i2").tobytes()
    return pcm


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """Write float32 16 kHz mono as a 16-bit WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(float_to_pcm16(samples))
    return path
