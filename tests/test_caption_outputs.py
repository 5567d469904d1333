"""Captions in Zoom and on YouTube Live, end to end against local stand-ins.

Neither platform can be reached here, so ``FakeCaptionServer`` plays their caption
ingestion (as their documentation describes it) while the real pipeline captions real
speech through the real sinks.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta

from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import CaptionTap
from canvascap.stages.sinks.youtube import parse_stamp, stamp
from canvascap.testing import file_config
from tests.cli import canvascap
from tests.fake_caption_server import FakeCaptionServer
from tests.timing import seconds


def finals_in(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_zoom_gets_every_final_once_in_order_and_errors_are_retried(
    three_sentences, tmp_path
) -> None:
    with FakeCaptionServer() as zoom:
        zoom.fail_first = 2  # as Zoom does before the meeting has started
        result = canvascap(
            "run",
            "--input",
            str(three_sentences),
            "--no-realtime",
            "--no-overlay",
            "--out",
            str(tmp_path),
            "--session",
            "zoom",
            "--zoom-url",
            zoom.url,
            "-v",
        )
    assert result.returncode == 0, result.stderr
    finals = [f["text"] for f in finals_in(tmp_path / "zoom.jsonl")]
    assert len(finals) >= 3
    assert [a.seq for a in zoom.accepted] == list(range(1, len(finals) + 1))
    assert [a.body for a in zoom.accepted] == finals  # in order, each once
    assert all(a.lang == "en-US" and a.content_type.startswith("text/plain") for a in zoom.accepted)
    assert [r.seq for r in zoom.received[:3]] == [1, 1, 1]  # a retry keeps its seq
    assert len(zoom.received) == len(finals) + 2
    assert "SECRET123" not in result.stderr + result.stdout  # credentials stay out of sight


def test_youtube_gets_timed_captions_in_order_with_its_clock_offset(
    three_sentences, tmp_path
) -> None:
    ahead = timedelta(seconds=30)  # YouTube's clock is 30 s ahead of this machine's
    with FakeCaptionServer(answer=lambda: stamp(time.time_ns() + 30 * 10**9)) as youtube:
        youtube.fail_first = 2
        result = canvascap(
            "run",
            "--input",
            str(three_sentences),
            "--no-overlay",
            "--out",
            str(tmp_path),
            "--session",
            "yt",
            "--youtube-url",
            youtube.url,
        )
    assert result.returncode == 0, result.stderr
    finals = finals_in(tmp_path / "yt.jsonl")
    posts = youtube.accepted
    assert [p.seq for p in posts] == list(range(1, len(finals) + 1))
    for post, final in zip(posts, finals, strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\n.+\n", post.body), post.body
        assert post.body.splitlines()[1] == final["text"]
    times = [datetime.fromtimestamp(parse_stamp(p.body.splitlines()[0]) / 1e9, UTC) for p in posts]
    # The first caption is timed by this machine's clock: when its words were spoken.
    spoken = datetime.fromtimestamp(posts[0].at, UTC) - timedelta(seconds=3)
    assert abs(times[0] - spoken) < timedelta(seconds=6)
    # Later ones carry the offset measured from YouTube's answer, and keep their spacing.
    for when, final in zip(times[1:], finals[1:], strict=True):
        expected = times[0] + ahead + timedelta(seconds=final["start_s"] - finals[0]["start_s"])
        assert abs(when - expected) < timedelta(seconds=1), (when, expected)


async def test_a_stalled_platform_never_delays_captions_anywhere_else(jfk) -> None:
    with FakeCaptionServer() as zoom:
        zoom.stall = True  # takes every POST and never answers
        tap = CaptionTap()
        ctx = Context(session="stall")
        sink = {"use": "sink.zoom", "options": {"url": zoom.url, "timeout_s": 1, "drain_s": 1}}
        config = file_config(
            str(jfk), realtime=True, overrides=[f"sinks={json.dumps({'zoom': sink})}"]
        )
        pipeline = Pipeline.build(config, ctx, extra_sinks={"tap": tap})
        started = time.monotonic()
        await asyncio.wait_for(pipeline.run(), seconds(60))
        took = time.monotonic() - started
    assert tap.finals, "captions reached the other sinks"
    lags = [(s.at_ns - s.caption.origin_ns) / 1e9 for s in tap.seen if s.caption.final]
    assert max(lags) < 2.0, lags  # finals on time, as without the platform
    assert took < 11 + 8, took  # the clip, then at most drain_s more
    assert ctx.metrics.counters["zoom.failures"] >= 1
    assert "no answer within 1 s" in ctx.metrics.degraded["zoom"]
