"""Options shared by every recogniser stage (``asr.*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from canvascap.stages.recognition.commit import CommitRule
from canvascap.stages.recognition.gate import GateOptions
from canvascap.stages.speakers.labeler import SpeakerOptions

__all__ = ["AsrOptions"]


class AsrOptions(BaseModel):
    """Options shared by every recogniser stage."""

    model_config = ConfigDict(extra="forbid")

    language: str = "en"
    """A language code; several (``en,fr``): the languages people may speak, one
    detected per utterance among them; or ``auto`` to detect any per utterance."""
    prompt_chars: int = Field(0, ge=0)
    """How much recent final text to pass as the prompt. Off by default: with small
    models the carried text makes Whisper append sign-offs ("Thank you very much.")."""
    commit: bool = True
    """Use the stable-prefix rule: words two partials agree on stay fixed on screen."""
    commit_finals: bool = False
    """Also send committed words as finals while the person is still speaking, so a
    word is final about a second after it is said instead of at the end of the
    sentence. Finals then come in shorter pieces decoded by the partial beam."""
    commit_min_words: int = Field(3, ge=1)
    """Committed words to gather before sending them as a final (with commit_finals)."""
    commit_confidence: float = Field(0.0, ge=0, le=1)
    """Commit a word only if the recogniser gave it at least this probability; a doubtful
    word and the words after it wait for a surer partial (or the final). Two partials
    agree on a wrong word mostly when the model was unsure of it."""
    commit_sure: float = Field(0.0, ge=0, le=1)
    """Commit a word the recogniser gave at least this probability after one partial,
    without waiting for the next to agree (never the last word heard, which may be cut
    off). 0 turns this off."""
    commit_past_doubt: int = Field(0, ge=0)
    """Commit a doubtful word that two partials agree on when this many agreed words
    after it are all sure (commit_sure). Whisper often doubts the first word of a
    sentence (how to spell it: "Unless" or "unless") while sure of the words after it,
    and the whole sentence would otherwise wait behind it. 0 turns this off."""
    gate: GateOptions = GateOptions()
    speakers: SpeakerOptions = SpeakerOptions()
    glossary: str | None = None
    """YAML glossary (``--glossary``): its terms go into Whisper's prompt, and words that
    spell a term nearly right are set right."""
    glossary_similarity: float = Field(0.85, gt=0, le=1)
    """How alike (letters, difflib's ratio) words must be to a term to be replaced by it."""

    @property
    def commit_rule(self) -> CommitRule:
        """The commit rule these options describe."""
        return CommitRule(self.commit_confidence, self.commit_sure, self.commit_past_doubt)

    @model_validator(mode="after")
    def _past_doubt_needs_sure(self) -> AsrOptions:
        if self.commit_past_doubt and not self.commit_sure:
            raise ValueError(
                "commit_past_doubt needs commit_sure (how sure the words after must be)"
            )
        return self
