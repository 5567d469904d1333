"""Speaker labels on captions as they are recognised, and finals split where the voice
changes.

A partial's label is provisional: decided again after each second of new audio, from the
end of what was heard. A final's label is learnt (the voice joins a known speaker or opens
a new one), and a final whose voice changes midway becomes one caption per turn. Whisper
often drops the second voice of a window, so when a whole utterance holds several turns,
each turn is decoded again on its own audio and every person's words are kept. Blocking
(voice prints, decodes): the recogniser stage runs it in its worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.types import Caption, Utterance, Word
from canvascap.stages.recognition.captioner import LiveLine
from canvascap.stages.recognition.gate import GateOptions, rejection_reason
from canvascap.stages.recognition.transcriber import Transcriber
from canvascap.stages.speakers.labeler import LabelledTurn, SpeakerLabeler, split_by_turns

__all__ = ["RELABEL_EVERY_S", "SpeakerTurns"]

RELABEL_EVERY_S = 1.0
"""A partial's provisional label is decided again after this much new audio."""


class SpeakerTurns:
    """Labels captions with who said them, for one session's recogniser."""

    def __init__(
        self,
        labeler: SpeakerLabeler,
        transcriber: Transcriber,
        gate: GateOptions,
        metrics: Metrics,
        new_id: Callable[[], int],
    ) -> None:
        self.labeler = labeler
        self.transcriber = transcriber
        self.gate = gate
        self.metrics = metrics
        self.new_id = new_id
        """Ids for the captions that turns split off a final."""

    def label(
        self, utterance: Utterance, captions: list[Caption], live: LiveLine | None
    ) -> list[Caption]:
        """``captions`` with who said them; ``live`` is the utterance's line while it is
        still being spoken (``None`` for its final)."""
        if live is not None:
            heard_s = len(utterance.audio) / SAMPLE_RATE
            if not live.speaker or heard_s - live.labelled_s >= RELABEL_EVERY_S:
                live.speaker = self.labeler.provisional(utterance.audio)
                live.labelled_s = heard_s
            return [replace(c, speaker=live.speaker) for c in captions]
        found = self.labeler.final_turns(utterance.audio, utterance.start_s)
        out: list[Caption] = []
        for caption in captions:
            out += self._split(utterance, caption, found) if caption.text else [caption]
        return out

    def _split(
        self, utterance: Utterance, caption: Caption, found: list[LabelledTurn]
    ) -> list[Caption]:
        """One final per turn it spans; the pieces after the first get ids of their own."""
        whole = caption.start_s == utterance.start_s  # no words were sent before it
        if len(found) > 1 and whole:
            pieces = self._decode_turns(utterance, caption, found)
        else:
            pieces = split_by_turns(caption, found)
        if not pieces:
            return [replace(caption, text="", source="")]
        out = [pieces[0]]
        for piece in pieces[1:]:
            self.metrics.count("asr.speaker_splits")
            out.append(replace(piece, id=self.new_id(), rev=0))
        return out

    def _decode_turns(
        self, utterance: Utterance, caption: Caption, found: list[LabelledTurn]
    ) -> list[Caption]:
        """One final caption per turn of ``utterance``, each decoded from its own audio
        (the first keeps ``caption``'s id; a turn the speech gate rejects is left out)."""
        pieces: list[Caption] = []
        for turn in found:
            first = int((turn.start_s - utterance.start_s) * SAMPLE_RATE)
            last = int((turn.end_s - utterance.start_s) * SAMPLE_RATE)
            result = self.transcriber.transcribe(
                utterance.audio[max(first, 0) : last],
                prompt="",
                prefix="",
                final=True,
                language=caption.lang,
            )
            if not result.text or rejection_reason(result, self.gate) is not None:
                continue
            words = tuple(
                Word(w.text, turn.start_s + w.start_s, turn.start_s + w.end_s, w.probability)
                for w in result.words
            )
            pieces.append(
                replace(
                    caption,
                    text=result.text,
                    source=result.text,
                    start_s=turn.start_s,
                    end_s=turn.end_s,
                    stable_chars=len(result.text),
                    words=words,
                    speaker=turn.speaker,
                )
            )
        return pieces
