"""Options of the translate stage: the backend's, and the stage's own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from canvascap.stages.translation.engines.backend import LlmOptions
from canvascap.stages.translation.packing import canonical_lang

__all__ = ["TranslateOptions"]


class TranslateOptions(LlmOptions):
    """Options of ``translate.captions``: the backend's, and the stage's own."""

    targets: list[str] = Field(default_factory=list)
    """Languages to translate into, e.g. ``[es, de, ja]``."""
    cleanup: bool = False
    """Also write a cleaned source line (ASR fixes, punctuation, no fillers)."""
    canvas_tokens: int = Field(256, ge=16)
    headroom: float = Field(0.2, ge=0, lt=1)
    """Share of the canvas kept free when packing, for longer-than-expected lines."""
    max_lag_s: float = Field(3.0, gt=0)
    max_pending: int = Field(16, ge=1)
    context_finals: int = Field(3, ge=0)
    partials: Literal["off", "idle"] = "idle"
    glossary: str | None = None
    """YAML file: ``keep: [terms]`` and ``translate: {term: {lang: rendering}}``."""
    drain_s: float = Field(4.0, ge=0)
    """After the input ends, how long translations may still take; then the lines still
    waiting are written untranslated, so the session ends on time."""
    engine: Literal["llm", "ctranslate2"] = "llm"
    """``llm``: DiffusionGemma (``backend``); ``ctranslate2``: Marian models on any CPU,
    one per language pair (``models``)."""
    models: str | None = None
    """Folder of the ``ctranslate2`` engine's pair models (``<src>-<tgt>/``); unset:
    ``$CANVASCAP_MODELS``, else the user's cache folder."""
    sources: list[str] = Field(default_factory=lambda: ["en"])
    """The languages people speak: their pairs are checked when the session starts
    (another language heard later is translated if its model is there)."""

    @model_validator(mode="after")
    def _cleanup_needs_a_language_model(self) -> TranslateOptions:
        if self.cleanup and self.engine == "ctranslate2":
            raise ValueError("cleanup needs a language model: add --llm (and its server)")
        return self

    @field_validator("targets", "sources", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [canonical_lang(str(part)) for part in value]
        return value
