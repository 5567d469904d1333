"""The services a session's stages and web server share, built once per session."""

from __future__ import annotations

from pydantic import ValidationError

from canvascap.captions.ingest import AudioIngest
from canvascap.captions.profanity import DisplayOptions, Masker
from canvascap.captions.speaker_names import SpeakerNames
from canvascap.pipeline.config import PipelineConfig, format_validation_error
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context

__all__ = ["session_context"]


def session_context(session: str, config: PipelineConfig) -> Context:
    """A context for one session of ``config``, with its services: network audio for a
    browser source, speaker names for renames, and the masker ``display`` asks for."""
    ctx = Context(session=session)
    ctx.services.add(AudioIngest(ctx.metrics))
    ctx.services.add(SpeakerNames())
    try:
        display = DisplayOptions.model_validate(config.display)
    except ValidationError as error:
        raise UserError(format_validation_error(error, prefix="display")) from None
    masker = Masker.from_options(display)
    if masker is not None:
        ctx.services.add(masker)
    return ctx
