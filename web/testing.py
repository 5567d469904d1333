"""Run the real overlay server on its own, fed with captions the caller writes.

For tests and benchmarks of the overlay, shipped like ``canvascap.pipeline.testing``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from canvascap.captions.speaker_names import SpeakerNames
from canvascap.pipeline.channel import Channel, Discard, Policy
from canvascap.pipeline.services import Services
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption
from canvascap.web.server import OverlayOptions, OverlaySink

__all__ = ["overlay_server"]


@asynccontextmanager
async def overlay_server(
    session: str = "test", ctx: Context | None = None, **options: Any
) -> AsyncIterator[tuple[OverlaySink, Channel[Caption]]]:
    """A started ``OverlaySink`` on a free port, and the channel that feeds it.

    ``ctx`` carries the session's services (a masker, speaker names); by default the
    server gets speaker names, as a session with labels does.
    """
    if ctx is None:
        ctx = Context(session=session, services=Services(SpeakerNames()))
    sink = OverlaySink(OverlayOptions(**{"port": 0, **options}), ctx)
    await sink.prepare()
    feed: Channel[Caption] = Channel("feed", 10_000, Policy.BLOCK)
    running = asyncio.create_task(sink.run(feed, Discard()))
    try:
        yield sink, feed
    finally:
        feed.close()
        await running
        await sink.aclose()
