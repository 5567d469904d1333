"""Speaker labels for captions: who said each line, live and for a whole file.

``SpeakerLabeler`` is what the recogniser stage asks: a provisional label for a
partial (from the last few seconds of its audio, learning nothing), and for a final
the turns of its utterance, each labelled, learning the voices for next time. A final
whose voice changes midway is split into one caption per turn (``split_by_turns``).
``relabel_offline`` revises a whole file's labels once everything has been heard.
Blocking calls (``provisional``, ``final_turns``, ``relabel_offline``) belong in a worker
thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.captions.subtitles import word_spans
from canvascap.pipeline.types import Caption
from canvascap.stages.speakers.clusters import OnlineSpeakers, cluster_offline, label, turns
from canvascap.stages.speakers.embedding import VoiceEmbedder

__all__ = [
    "LabelledTurn",
    "SpeakerLabeler",
    "SpeakerOptions",
    "relabel_offline",
    "split_by_turns",
]

PEEK_S = 3.0
"""A partial's provisional label comes from at most this much of its latest audio."""


class SpeakerOptions(BaseModel):
    """``asr.speakers``: label each caption with who said it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    """Label captions ``S1``, ``S2``, ... (``--speakers``). Needs ``canvascap[speakers]``."""
    threshold: float = Field(0.75, ge=-1, le=1)
    """How alike (cosine similarity of voice prints) an utterance must be to a known
    speaker to be theirs; below it a new speaker is opened. Lower merges more."""
    max_speakers: int = Field(8, ge=1)
    """Past this many, an utterance joins the nearest known speaker."""
    change_threshold: float = Field(0.6, ge=-1, le=1)
    """Inside one utterance, the voice changes where the prints of the audio before and
    after are less alike than this. Lower than ``threshold``: prints of a few seconds
    vary more than those of whole utterances."""
    min_turn_s: float = Field(2.0, gt=0)
    """A change of voice inside one utterance splits its caption only if both sides
    last at least this long."""
    names: dict[str, str] = Field(default_factory=dict)
    """Names to show instead of labels, e.g. ``{S1: Ana, S2: Ben}``."""

    def shown(self, index: int, renamed: Mapping[str, str] | None = None) -> str:
        """What to show for the ``index``-th speaker: a name given while the session
        runs (``renamed``), else one from the configuration, else its label."""
        key = label(index)
        return (renamed or {}).get(key) or self.names.get(key, key)


@dataclass(frozen=True, slots=True)
class LabelledTurn:
    """A stretch of media time and who spoke it."""

    start_s: float
    end_s: float
    speaker: str


class SpeakerLabeler:
    """Online speaker labels over one session's utterances."""

    def __init__(
        self,
        options: SpeakerOptions,
        renamed: Mapping[str, str] | None = None,
        embedder: VoiceEmbedder | None = None,
    ) -> None:
        self.options = options
        self.renamed = renamed if renamed is not None else {}
        """Names given while the session runs (the control page), read at each label."""
        self.embedder = embedder or VoiceEmbedder()
        self.speakers = OnlineSpeakers(options.threshold, options.max_speakers)

    def _shown(self, index: int) -> str:
        return self.options.shown(index, self.renamed)

    def provisional(self, audio: np.ndarray) -> str:
        """Who is probably speaking at the end of ``audio`` (nothing is learnt)."""
        voice = self.embedder.voice(audio[-int(PEEK_S * SAMPLE_RATE) :])
        index = self.speakers.peek(voice.embedding, self.options.change_threshold)
        return self._shown(index)

    def final_turns(self, audio: np.ndarray, start_s: float) -> list[LabelledTurn]:
        """The labelled turns of a whole utterance that starts at ``start_s``; the voices
        are learnt."""
        voice = self.embedder.voice(audio)
        options = self.options
        found = turns(voice.windows, voice.spans, options.change_threshold, options.min_turn_s)
        if len(found) <= 1:
            length_s = len(audio) / SAMPLE_RATE
            # A short utterance's print is less sure: it opens a new speaker only if it
            # is unlike everyone by the stricter measure used for changes of voice.
            short = options.change_threshold if length_s < options.min_turn_s * 1.5 else None
            index = self.speakers.assign(voice.embedding, length_s, short)
            end_s = start_s + len(audio) / SAMPLE_RATE
            return [LabelledTurn(start_s, end_s, self._shown(index))]
        labelled: list[LabelledTurn] = []
        for turn in found:
            mean = np.mean([voice.windows[i] for i in turn.windows], axis=0)
            who = self._shown(self.speakers.assign(mean, turn.end_s - turn.start_s))
            if labelled and labelled[-1].speaker == who:  # both sides: one known voice
                labelled[-1] = replace(labelled[-1], end_s=start_s + turn.end_s)
            else:
                labelled.append(LabelledTurn(start_s + turn.start_s, start_s + turn.end_s, who))
        return labelled


def split_by_turns(caption: Caption, found: Sequence[LabelledTurn]) -> list[Caption]:
    """``caption`` labelled, cut into one caption per turn it spans.

    Words are placed in time by their timestamps when the recogniser gave them, else
    by their position in the text; a cut moves to a sentence end within two words when
    there is one. The pieces after the first need ids of their own: they keep the
    caption's id here, and the caller renumbers them.
    """
    inside = [t for t in found if t.end_s > caption.start_s and t.start_s < caption.end_s]
    if not inside:
        inside = [min(found, key=lambda t: abs(t.start_s - caption.start_s))]
    words = caption.text.split()
    if len(inside) == 1 or len(words) < 2:
        return [replace(caption, speaker=_longest(inside, caption))]
    times = [start for start, _ in word_spans(caption, words)]
    cuts = [0]
    for turn in inside[1:]:
        cut = sum(1 for t in times if t < turn.start_s)
        cut = _at_sentence_end(words, cut)
        if cuts[-1] < cut < len(words):
            cuts.append(cut)
    cuts.append(len(words))
    pieces = []
    for first, last in zip(cuts, cuts[1:], strict=False):
        start_s = caption.start_s if first == 0 else times[first]
        end_s = caption.end_s if last == len(words) else times[last]
        text = " ".join(words[first:last])
        middle = (start_s + end_s) / 2
        speaker = next((t.speaker for t in inside if t.start_s <= middle < t.end_s), "")
        pieces.append(
            replace(
                caption,
                text=text,
                source=text if caption.source == caption.text else caption.source,
                start_s=start_s,
                end_s=end_s,
                stable_chars=len(text),
                words=tuple(w for w in caption.words if start_s <= w.start_s < end_s),
                speaker=speaker or _longest(inside, caption),
                continues_word=caption.continues_word and first == 0,
            )
        )
    return pieces


def _longest(found: Sequence[LabelledTurn], caption: Caption) -> str:
    """The speaker of the turn that covers most of ``caption``."""

    def overlap(turn: LabelledTurn) -> float:
        return min(turn.end_s, caption.end_s) - max(turn.start_s, caption.start_s)

    return max(found, key=overlap).speaker


def _at_sentence_end(words: list[str], cut: int) -> int:
    """``cut`` moved to just after a sentence end within two words, if there is one."""
    for shift in (0, 1, -1, 2, -2):
        at = cut + shift
        if 0 < at < len(words) and words[at - 1][-1:] in ".?!":
            return at
    return cut


def relabel_offline(
    captions: Sequence[Caption], audio: np.ndarray, options: SpeakerOptions
) -> list[Caption]:
    """A whole file's captions with labels from clustering all its voices at once.

    Each spoken line's audio is embedded again; translations take the label of the
    spoken line with the same id.
    """
    embedder = VoiceEmbedder()
    spoken = [c for c in captions if c.spoken and c.text]
    prints, weights = [], []
    for caption in spoken:
        piece = audio[int(caption.start_s * SAMPLE_RATE) : int(caption.end_s * SAMPLE_RATE)]
        if len(piece) < SAMPLE_RATE // 4:
            piece = np.pad(piece, (0, SAMPLE_RATE // 4 - len(piece)))
        prints.append(embedder.voice(piece).embedding)
        weights.append(max(caption.end_s - caption.start_s, 0.25))
    groups = cluster_offline(prints, weights, options.threshold)
    by_id = {c.id: options.shown(g) for c, g in zip(spoken, groups, strict=True)}
    return [replace(c, speaker=by_id.get(c.id, c.speaker)) for c in captions]
