"""Stage names used in presets, resolved through the ``canvascap.stages`` entry points.

Every stage a config can name is registered in one place: an entry point of the
``canvascap.stages`` group (canvascap's own are listed in its ``pyproject.toml``). A
package of your own adds stages the same way, and its names become valid in configs
once it is installed. A name is imported only when a config uses it, so the core works
on a machine without PortAudio, faster-whisper or CUDA. Nothing else is accepted: a
config cannot make canvascap import and call an arbitrary object.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from pydantic import BaseModel, ValidationError

from canvascap.pipeline.config import format_validation_error
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context, Stage, StageClass

__all__ = ["GROUP", "build_stage", "registered", "resolve"]

GROUP = "canvascap.stages"
"""The entry-point group that registers stages."""


def registered() -> dict[str, importlib.metadata.EntryPoint]:
    """Every registered stage by name."""
    return {point.name: point for point in importlib.metadata.entry_points(group=GROUP)}


def resolve(name: str) -> StageClass:
    """The stage class registered under ``name``, or a ``UserError`` naming the valid ones."""
    stages = registered()
    point = stages.get(name)
    if point is None:
        known = ", ".join(sorted(stages)) or "none (is canvascap installed?)"
        raise UserError(f"unknown stage '{name}': use one of {known}")
    try:
        factory: StageClass = point.load()
    except ImportError as error:
        raise UserError(f"stage '{name}' cannot be loaded: {error}") from None
    missing = [
        member
        for member in ("Options", "accepts", "emits", "prepare", "run", "aclose")
        if not hasattr(factory, member)
    ]
    if not isinstance(factory, type) or missing:
        raise UserError(
            f"stage '{name}' ({point.value}) is not a canvascap stage"
            + (f": it lacks {', '.join(missing)}" if missing else "")
        )
    return factory


def build_stage(name: str, use: str, options: dict[str, Any], ctx: Context, path: str) -> Stage:
    """Resolve ``use``, validate ``options`` with the stage's ``Options`` model, construct."""
    factory = resolve(use)
    model: type[BaseModel] = factory.Options
    try:
        parsed = model.model_validate(options)
    except ValidationError as error:
        raise UserError(format_validation_error(error, prefix=f"{path}.options")) from None
    stage = factory(parsed, ctx)
    stage.name = name
    return stage
