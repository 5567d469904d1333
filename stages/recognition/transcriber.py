"""What the recogniser stage needs of a speech recogniser (faster-whisper is one)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from canvascap.stages.recognition.gate import Transcript

__all__ = ["Transcriber", "Transcript"]


class Transcriber(Protocol):
    """A speech recogniser that works on one snapshot at a time (blocking)."""

    def transcribe(
        self, audio: np.ndarray, *, prompt: str, prefix: str, final: bool, language: str | None
    ) -> Transcript:
        """What ``audio`` says, starting with ``prefix``, after ``prompt``."""
        ...

    def detect_language(self, audio: np.ndarray) -> list[tuple[str, float]]:
        """Each language the recogniser knows, with the probability it is ``audio``'s."""
        ...

    def is_common_word(self, word: str) -> bool:
        """Whether ``word`` is an everyday word the glossary must never replace."""
        ...
