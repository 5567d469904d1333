"""Stage names used in presets, mapped to where their code lives.

Names map to ``"module:Factory"`` strings and are imported only when a config uses them,
so ``import pipeline`` works on a machine without PortAudio, faster-whisper or CUDA.
Any ``"package.module:Factory"`` string is accepted too, so a stage of your own needs
no registration. A factory is called as ``Factory(options, ctx)`` and may define an
``Options`` pydantic model that validates its options.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.config import format_validation_error
from pipeline.errors import UserError
from pipeline.stage import Context, Stage

__all__ = ["STAGES", "build_stage", "resolve"]

STAGES: dict[str, str] = {
    "source.file": "stages.file_source:FileSource",
    "source.mic": "stages.mic:MicSource",
    "vad.webrtc": "stages.vad:VadStage",
    "asr.faster_whisper": "stages.asr_faster_whisper:FasterWhisperAsr",
    "sink.terminal": "stages.terminal:TerminalSink",
    "sink.transcript": "stages.transcript:TranscriptSink",
    "sink.overlay": "web.server:OverlaySink",
    "translate.diffusion_gemma": "stages.translate:TranslateStage",
}


def resolve(use: str) -> Any:
    """Import the factory behind a stage name or a ``module:Factory`` string."""
    target = STAGES.get(use, use)
    module_name, sep, attribute = target.partition(":")
    if not sep:
        known = ", ".join(sorted(STAGES))
        raise UserError(f"unknown stage '{use}': use one of {known}, or 'module:Factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"stage '{use}' cannot be loaded: {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise UserError(f"stage '{use}': {module_name} has no '{attribute}'") from None


def build_stage(name: str, use: str, options: dict[str, Any], ctx: Context, path: str) -> Stage:
    """Resolve, validate options with the factory's ``Options`` model, and construct."""
    factory = resolve(use)
    model: type[BaseModel] | None = getattr(factory, "Options", None)
    parsed: Any = options
    if model is not None:
        try:
            parsed = model.model_validate(options)
        except ValidationError as error:
            raise UserError(format_validation_error(error, prefix=f"{path}.options")) from None
    stage: Stage = factory(parsed, ctx)
    stage.name = name
    return stage
