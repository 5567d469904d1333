"""Closed captions into an OBS stream (CEA-608), against a stand-in for OBS's WebSocket
server (OBS cannot run here; ``FakeObs`` speaks obs-websocket v5 as OBS does)."""

from __future__ import annotations

import asyncio
import json

from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import CaptionTap
from canvascap.stages.sinks.cea608 import ROW_CHARS, RollUp, reading_s, rows
from canvascap.testing import file_config
from tests.fake_obs import FakeObs
from tests.timing import seconds


def test_text_becomes_rows_of_32_characters_cut_between_words() -> None:
    text = "And so my fellow Americans, ask not what your country can do for you"
    laid_out = rows(text)
    assert all(len(row) <= ROW_CHARS for row in laid_out)
    assert " ".join(laid_out) == text and len(laid_out) == 3
    assert rows("a" * 70) == ["a" * 32, "a" * 32, "a" * 6]  # a word longer than a row
    display = RollUp(2)
    assert [display.push(r) for r in ("one", "two", "three")] == ["one", "one\ntwo", "two\nthree"]
    assert reading_s("x" * 50, cps=25) == 2.0 and reading_s("ok", cps=25) == 1.0


async def caption_into_obs(obs: FakeObs, clip, **options) -> tuple[CaptionTap, Context]:
    tap, ctx = CaptionTap(), Context(session="obs")
    sink = {"use": "sink.obs", "options": {"url": obs.url, **options}}
    overrides = [f"sinks={json.dumps({'obs': sink})}"]
    pipeline = Pipeline.build(
        file_config(str(clip), realtime=True, overrides=overrides), ctx, extra_sinks={"tap": tap}
    )
    await asyncio.wait_for(pipeline.run(), seconds(90))
    return tap, ctx


async def test_finals_roll_up_in_obs_a_paced_row_at_a_time(jfk, caplog) -> None:
    obs = FakeObs(password="hunter2")
    obs.fail_first = 2  # OBS refuses the first two, as before its stream has started
    await obs.start()
    try:
        with caplog.at_level("DEBUG"):
            tap, ctx = await caption_into_obs(obs, jfk, password="hunter2")
    finally:
        await obs.stop()
    assert obs.identified == 1 and obs.captions
    assert "hunter2" not in caplog.text  # the password never reaches a log
    sent = [text for _, text in obs.captions]
    for text in sent:
        lines = text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= ROW_CHARS for line in lines), text
    # Each caption adds one row at the bottom; together the rows are the finals' words.
    newest = [text.split("\n")[-1] for text in sent]
    assert newest == [row for final in tap.finals for row in rows(final.text)]
    # A row stays the newest long enough to be read.
    times = [at for at, _ in obs.captions]
    for (before, after), row in zip(zip(times, times[1:], strict=False), newest, strict=False):
        assert after - before >= reading_s(row, cps=25) - 0.05
    assert ctx.metrics.counters["obs.sent"] == len(sent)
    assert ctx.metrics.counters["obs.failures"] == 2  # refused twice, sent again, none lost


async def test_an_obs_that_never_answers_delays_no_caption_elsewhere(jfk) -> None:
    obs = FakeObs(password="")
    obs.stall = True
    await obs.start()
    try:
        tap, ctx = await caption_into_obs(obs, jfk)
    finally:
        await obs.stop()
    lags = [(s.at_ns - s.caption.origin_ns) / 1e9 for s in tap.seen if s.caption.final]
    assert tap.finals and max(lags) < 2.0, lags  # finals on time, as without OBS
    assert "no answer from OBS" in ctx.metrics.degraded["obs"]


async def test_a_wrong_password_or_a_stopped_stream_never_stops_captions(jfk) -> None:
    obs = FakeObs(password="right")
    await obs.start()
    try:
        tap, ctx = await caption_into_obs(obs, jfk, password="wrong")
        assert obs.captions == [] and tap.finals  # captions went on everywhere else
        assert "did not accept the password" in ctx.metrics.degraded["obs"]
        obs.streaming = False  # OBS is up but not streaming
        tap, ctx = await caption_into_obs(obs, jfk, password="right")
    finally:
        await obs.stop()
    assert tap.finals and obs.refused >= 1
    assert "OBS refused the caption (501" in ctx.metrics.degraded["obs"]


async def test_when_obs_restarts_captions_resume(jfk, monkeypatch) -> None:
    monkeypatch.setenv("CANVASCAP_OBS_PASSWORD", "from-the-environment")
    obs = FakeObs(password="from-the-environment")
    await obs.start()

    async def restart_obs() -> None:
        await obs.captioned.wait()
        await obs.stop()  # OBS quits ...
        await asyncio.sleep(1.5)
        await obs.start()  # ... and comes back on the same port

    restarting = asyncio.create_task(restart_obs())
    try:
        tap, ctx = await caption_into_obs(obs, jfk)
        await restarting
    finally:
        await obs.stop()
    assert obs.identified == 2  # connected again by itself
    before_restart = obs.captions[0][1]
    assert obs.captions[-1][1] != before_restart and len(obs.captions) >= 3
