"""``sink.youtube``: closed captions on a YouTube live stream, through caption ingestion.

In YouTube Studio, the stream's settings give a caption ingestion URL (closed
captions → *POST captions to URL*); it goes to ``--youtube-url`` or the
``CANVASCAP_YOUTUBE_URL`` environment variable. YouTube takes each caption as a POST
with ``seq``, whose body is the caption's UTC time (``YYYY-MM-DDTHH:MM:SS.mmm``) on one
line and its text on the next. YouTube places a caption in the stream by that time, so
it is the moment the words were spoken, plus ``delay_s`` for a stream that is
delayed on purpose. When YouTube answers with its own time, the difference between
its clock and this machine's is measured and applied, so a machine whose clock is
off still lines captions up with the picture.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import ClassVar

import httpx
from pydantic import BaseModel

from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption
from canvascap.stages.sinks.delivery import CaptionDelivery, DeliveryOptions, Post

__all__ = ["YouTubeCaptions", "YouTubeOptions", "parse_stamp", "stamp"]


class YouTubeOptions(DeliveryOptions):
    """Options of ``sink.youtube``."""

    url_env: str = "CANVASCAP_YOUTUBE_URL"
    delay_s: float = 0.0
    """Added to every caption's time: the delay the stream itself has, if any."""


def stamp(utc_ns: int) -> str:
    """YouTube's time format: UTC, milliseconds."""
    moment = dt.datetime.fromtimestamp(utc_ns / 1e9, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_stamp(text: str) -> int | None:
    """Nanoseconds since the epoch of a YouTube time, or ``None`` if it is not one."""
    try:
        moment = dt.datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=dt.UTC).timestamp() * 1e9)


class YouTubeCaptions(CaptionDelivery):
    """Sends final captions to a YouTube live stream."""

    Options: ClassVar[type[BaseModel]] = YouTubeOptions
    label: ClassVar[str] = "YouTube"

    def __init__(self, options: YouTubeOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        self.name = "youtube"
        self._delay_ns = int(options.delay_s * 1e9)
        self.clock_offset_ns = 0
        """YouTube's clock minus this machine's, as last measured."""

    def post_for(self, caption: Caption, seq: int) -> Post:
        """Time and text, one line each."""
        text = caption.text.replace("\n", "<br>")
        utc_ns = self._spoken_at_ns(caption) + self._delay_ns + self.clock_offset_ns
        return Post({"seq": str(seq)}, f"{stamp(utc_ns)}\n{text}\n", "text/plain; charset=utf-8")

    def accepted(self, response: httpx.Response, sent_ns: int) -> None:
        """YouTube answers with its time: measure how far off this machine's clock is."""
        server_ns = parse_stamp(response.text)
        if server_ns is None:
            return
        round_trip_ns = self.ctx.clock.now_ns() - sent_ns
        local_ns = time.time_ns() - round_trip_ns // 2
        self.clock_offset_ns = server_ns - local_ns

    def _spoken_at_ns(self, caption: Caption) -> int:
        """Wall-clock (UTC) time at which the caption's first words were spoken."""
        started = self.ctx.report.audio_started_ns
        now_mono, now_utc = self.ctx.clock.now_ns(), time.time_ns()
        if started is None:
            return now_utc
        return now_utc - (now_mono - (started + int(caption.start_s * 1e9)))
