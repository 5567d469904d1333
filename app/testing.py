"""Run a file through a shipped preset and see what a sink saw: for tests and benchmarks."""

from __future__ import annotations

from canvascap.pipeline.config import PipelineConfig, load_config
from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import CaptionTap
from canvascap.presets import file_source_overrides
from canvascap.services import session_context

__all__ = ["caption_file", "file_config"]


def file_config(
    path: str,
    realtime: bool,
    partials: bool = True,
    overrides: list[str] | None = None,
    config: str | None = None,
) -> PipelineConfig:
    """A preset (the default one unless named) with a file source and no built-in sinks."""
    extra = [*file_source_overrides(path, realtime), "sinks={}"]
    if not partials:
        extra.append("vad.partial_every_ms=0")
    return load_config(config, extra + list(overrides or []))


async def caption_file(
    path: str,
    realtime: bool = False,
    partials: bool = True,
    overrides: list[str] | None = None,
    config: str | None = None,
) -> tuple[CaptionTap, Context]:
    """Run a file through a preset; return what a sink saw and the session's context."""
    tap = CaptionTap()
    built = file_config(path, realtime, partials, overrides, config)
    ctx = session_context("test", built)
    pipeline = Pipeline.build(built, ctx, extra_sinks={"tap": tap})
    await pipeline.run()
    return tap, ctx
