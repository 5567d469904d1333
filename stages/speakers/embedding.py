"""Voice embeddings from Resemblyzer's GE2E encoder, the one module that imports it.

Resemblyzer ships its trained weights inside its wheel (Apache-2.0), so speaker labels
work offline after ``pip install 'canvascap[speakers]'``. The encoder reads 1.6 s
windows of 40-band mel frames and gives a 256-number voice print per window; an
utterance's print is the mean of its windows. Blocking: call from a worker thread.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.pipeline.errors import UserError
from canvascap.stages.recognition.vad import webrtcvad_module

__all__ = ["Voice", "VoiceEmbedder"]

log = logging.getLogger(__name__)

WINDOW_S = 1.6
"""What one of the encoder's windows covers."""


@dataclass(frozen=True, slots=True)
class Voice:
    """What the encoder made of a stretch of audio."""

    embedding: np.ndarray
    """The whole stretch's voice print (unit length)."""
    windows: tuple[np.ndarray, ...]
    """One print per window, in time order."""
    spans: tuple[tuple[float, float], ...]
    """Each window's start and end, in seconds from the start of the stretch."""


class VoiceEmbedder:
    """Resemblyzer's ``VoiceEncoder`` on the CPU, loaded once."""

    def __init__(self, windows_per_s: float = 2.0) -> None:
        webrtcvad_module()  # Resemblyzer imports it
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its webrtcvad import warns on import
                from resemblyzer import VoiceEncoder
        except ImportError:
            raise UserError(
                "speaker labels need the speakers extra: pip install 'canvascap[speakers]'"
            ) from None
        import torch

        torch.set_num_threads(1)  # a 3-layer LSTM over 160 frames: one core is enough
        self.encoder: Any = VoiceEncoder("cpu", verbose=False)
        self.windows_per_s = windows_per_s
        # The first call compiles librosa's mel filters (numba): pay it here, not live.
        self.voice(np.zeros(SAMPLE_RATE * 2, np.float32))

    def voice(self, audio: np.ndarray) -> Voice:
        """The voice print of ``audio`` (float32, 16 kHz) and of each of its windows."""
        _, windows, slices = self.encoder.embed_utterance(
            audio.astype(np.float32, copy=False),
            return_partials=True,
            rate=self.windows_per_s,
            min_coverage=0.5,
        )
        length_s = len(audio) / SAMPLE_RATE
        spans = tuple((s.start / SAMPLE_RATE, min(s.stop / SAMPLE_RATE, length_s)) for s in slices)
        mean = np.mean(windows, axis=0)
        embedding = mean / max(float(np.linalg.norm(mean)), 1e-9)
        return Voice(embedding, tuple(windows), spans)
