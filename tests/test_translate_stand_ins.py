"""While a translation is missing, the spoken words stand in for it, marked as such: shown
styled on the pages, never printed twice, never in a language's subtitles or on a
platform; and a failing backend is said once, counted, and said again when it answers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import replace

import pytest

from canvascap.pipeline.channel import Channel, Policy
from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.stage import Context, LoopClock
from canvascap.pipeline.types import Caption, Role
from canvascap.stages.sinks.delivery import platform_line, untranslated
from canvascap.stages.translation.outage import Outage
from canvascap.stages.translation.stage import TranslateOptions, TranslateStage
from tests.cli import canvascap
from tests.test_translate_timing import Recorder, ScriptedBackend
from tests.timing import run_virtual


def test_an_outage_is_said_once_counted_and_its_end_said() -> None:
    metrics = Metrics()
    outage = Outage("translate", metrics)
    assert outage.answered() is None  # nothing to say while all is well
    first = outage.failed("connection refused")
    assert first is not None and "connection refused" in first
    assert [outage.failed("connection refused") for _ in range(10)] == [None] * 10
    assert metrics.snapshot()["status"] == "degraded"
    back = outage.answered()
    assert back is not None and "after 11 failed request(s)" in back
    assert metrics.snapshot()["status"] == "ok"
    assert outage.failed("timeout") is not None  # a new outage is said again


def spoken(cid: int, text: str) -> Caption:
    now = LoopClock().now_ns()
    return Caption(cid, 1, True, text, text, "en", cid * 2.0, cid * 2.0 + 1.5, now, len(text))


def test_a_failing_backend_gives_marked_stand_ins_a_warning_and_a_recovery(caplog) -> None:
    options = TranslateOptions(targets=["es"], max_lag_s=1.0, timeout_s=30, retries=0, drain_s=30)
    backend = ScriptedBackend(options, failures=6)

    async def session() -> list[Caption]:
        stage = TranslateStage(options, Context(session="t", clock=LoopClock()), backend=backend)
        inbox: Channel[Caption] = Channel("in", 16, Policy.BLOCK)
        out = Recorder()
        await stage.prepare()

        async def speak() -> None:
            for cid in range(8):
                await inbox.send(spoken(cid, f"caption number {cid}"))
                await asyncio.sleep(2.0)
            inbox.close()

        await asyncio.gather(speak(), stage.run(inbox, out))
        await stage.aclose()
        return [c for _, c in out.sent]

    with caplog.at_level(logging.WARNING):
        sent = run_virtual(session())
    spanish = [c for c in sent if c.lang == "es"]
    finals = {c.id: c for c in spanish if c.final}
    assert len(finals) == 8
    stand_ins = [c for c in finals.values() if c.stand_in]
    translated = [c for c in finals.values() if not c.stand_in]
    assert stand_ins and translated  # the first lines while it failed, the later ones after
    assert all(c.text == c.source for c in stand_ins)
    assert all(c.text.startswith("[es] ") for c in translated)
    assert all(c.stand_in for c in spanish if not c.final and c.text == c.source)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if "failing" in w]) == 1, warnings
    assert len([w for w in warnings if "answers again" in w]) == 1, warnings


def test_platforms_take_only_real_translations() -> None:
    real = Caption(0, 1, True, "hi", "hola", "es", 0.0, 1.0, 0, 4, role=Role.TRANSLATION)
    stand_in = replace(real, text="hi", stand_in=True)
    assert platform_line(real, "es") and not platform_line(stand_in, "es")
    assert untranslated(stand_in, "es") and not untranslated(stand_in, None)
    assert not untranslated(real, "es")


@pytest.fixture
def dead_server() -> str:
    """The URL of a port where nothing listens (closed again at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_with_the_server_down_captions_print_once_and_subtitles_hold_no_english(
    jfk, tmp_path, dead_server
) -> None:
    result = canvascap(
        "run", "--input", str(jfk), "--no-realtime", "--out", str(tmp_path), "--session", "down",
        "--no-overlay", "--translate", "es", "--llm", "openai", "--llm-url", dead_server,
        "--set", "translate.drain_s=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = [line for line in result.stdout.splitlines() if line.strip()]
    assert printed and all(" es]" not in line for line in printed), printed
    assert "fellow americans" in result.stdout.lower()
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len([w for w in warnings if "translation backend failing" in w]) == 1, warnings
    assert "never translated into es" in result.stderr
    spanish = tmp_path / "down.es.srt"
    assert not spanish.exists() or "americans" not in spanish.read_text().lower()
    records = [json.loads(line) for line in (tmp_path / "down.jsonl").read_text().splitlines()]
    assert any(r["lang"] == "es" and r["stand_in"] for r in records)  # kept, and marked
    assert all(not r["stand_in"] for r in records if r["lang"] == "en")
