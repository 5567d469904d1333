"""Run the real overlay server on its own, fed with captions a test writes."""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pipeline.channel import Channel, Policy
from pipeline.stage import Context
from pipeline.types import Caption
from web.server import OverlayOptions, OverlaySink


def caption(
    cid: int,
    text: str,
    rev: int = 0,
    final: bool = True,
    lang: str = "en",
    source: str | None = None,
    stable_chars: int = 0,
) -> Caption:
    """A caption revision stamped with the current time as its origin."""
    return Caption(
        cid,
        rev,
        final,
        source if source is not None else text,
        text,
        lang,
        float(cid),
        float(cid) + 1.0,
        time.monotonic_ns(),
        stable_chars,
    )


@asynccontextmanager
async def overlay_server(
    session: str = "test", **options: Any
) -> AsyncIterator[tuple[OverlaySink, Channel[Caption]]]:
    """A started ``OverlaySink`` and the channel that feeds it."""
    sink = OverlaySink(OverlayOptions(**{"port": 0, **options}), Context(session=session))
    await sink.prepare()
    feed: Channel[Caption] = Channel("feed", 10_000, Policy.BLOCK)
    running = asyncio.create_task(sink.run(feed, None))  # type: ignore[arg-type]
    try:
        yield sink, feed
    finally:
        feed.close()
        await running
        await sink.aclose()


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    """A raw GET: the path is sent exactly as given, with no normalisation."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()
