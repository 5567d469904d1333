"""A recogniser that breaks on its second utterance, to test failure handling."""

from __future__ import annotations

from canvascap.pipeline.types import Caption, Utterance
from canvascap.stages.recognition.faster_whisper import FasterWhisperAsr


class FailingAsr(FasterWhisperAsr):
    """The real faster-whisper stage, except that utterance 1 raises."""

    async def _transcribe(self, utterance: Utterance) -> list[Caption]:
        if utterance.id == 1:
            raise RuntimeError("simulated decoder crash")
        return await super()._transcribe(utterance)
