"""How the application adapts a shipped preset to what the user asked for."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

__all__ = ["demo_clip", "file_source_overrides"]


def demo_clip() -> Path:
    """The bundled public-domain clip (JFK, 1961) that ``canvascap demo`` plays."""
    return Path(str(resources.files("canvascap").joinpath("assets/jfk.flac")))


def file_source_overrides(path: str, realtime: bool) -> list[str]:
    """Overrides that make a preset read a file instead of the microphone."""
    source = {"use": "source.file", "options": {"path": path, "realtime": realtime}}
    overrides = [f"stages.source={json.dumps(source)}"]
    if not realtime:
        # Read faster than real time, the audio edge must wait rather than drop.
        overrides.append("stages.vad.inbox.policy=block")
    return overrides
