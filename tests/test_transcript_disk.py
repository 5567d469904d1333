"""The transcript when the disk refuses it, and when a session name is used twice.

A full disk is real here: the file-size limit (RLIMIT_FSIZE) makes the kernel refuse
writes past a size, exactly as a full disk refuses them, and no privileges are needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from canvascap.pipeline.channel import Channel, Discard, Policy
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption
from canvascap.stages.transcript import TranscriptSink
from tests.cli import canvascap, cli_env, wait_for_line
from tests.timing import seconds


def final(cid: int, text: str) -> Caption:
    return Caption(cid, 1, True, text, text, "en", cid * 2.0, cid * 2.0 + 1.5, 1, len(text))


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_refused_write_degrades_the_sink_and_writing_resumes(tmp_path, caplog) -> None:
    ctx = Context(session="disk")
    sink = TranscriptSink(TranscriptSink.Options(out_dir=str(tmp_path)), ctx)
    inbox: Channel[Caption] = Channel("in", 10, Policy.BLOCK)
    await sink.prepare()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    with caplog.at_level(logging.WARNING):
        await inbox.send(final(0, "the first line fits"))
        running = asyncio.create_task(sink.run(inbox, Discard()))
        await asyncio.sleep(0.05)
        size = (tmp_path / "disk.jsonl").stat().st_size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, hard))  # the disk is full
        try:
            await inbox.send(final(1, "the second line does not fit on the disk"))
            await asyncio.sleep(0.05)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
        degraded = dict(ctx.metrics.degraded)
        on_disk = (tmp_path / "disk.jsonl").read_bytes()
        await inbox.send(final(2, "the third line comes after space was freed"))
        inbox.close()
        await running
        await sink.aclose()
    assert "cannot write disk.jsonl" in degraded["transcript"]
    assert on_disk.endswith(b"\n") and on_disk.count(b"\n") == 1  # no line cut in half
    assert [r["id"] for r in lines_of(tmp_path / "disk.jsonl")] == [0, 1, 2]  # none lost
    assert ctx.metrics.degraded == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "writing resumes" in warnings[0] and "again" in warnings[1]


def test_a_full_disk_never_ends_the_live_session(three_sentences, tmp_path) -> None:
    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (250, resource.RLIM_INFINITY))

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "canvascap",
            "run",
            "--input",
            str(three_sentences),
            "--port",
            "0",
            "--out",
            str(tmp_path),
            "--session",
            "full",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=small_disk,
    )
    line = wait_for_line(process, "overlay http://")
    port = re.search(r"127\.0\.0\.1:(\d+)/", line).group(1)
    status, deadline = "ok", time.monotonic() + seconds(60)
    while status == "ok" and time.monotonic() < deadline:
        time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            health = json.loads(answer.read())
        status = health["status"]
    stdout, stderr = process.communicate(timeout=seconds(60))
    assert status == "degraded" and "cannot write full.jsonl" in health["degraded"]["transcript"]
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    assert len([w for w in stderr.splitlines() if "cannot write" in w and ".jsonl" in w]) == 1
    lines_of(tmp_path / "full.jsonl")  # every line on disk is whole
    said = stdout.lower()  # captions went on everywhere else
    assert "comparatively modern" in said and "surpassed" in said and "middle ages" in said


def test_a_session_name_used_twice_never_mixes_two_sessions(jfk, tmp_path) -> None:
    run = ("run", "--input", str(jfk), "--no-realtime", "--no-overlay", "--out", str(tmp_path))
    first = canvascap(*run, "--session", "talk")
    second = canvascap(*run, "--session", "talk")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "written as talk-2" in second.stderr
    once = [r["id"] for r in lines_of(tmp_path / "talk.jsonl")]
    assert once == list(range(len(once))) and once, "one session per file"
    assert [r["id"] for r in lines_of(tmp_path / "talk-2.jsonl")] == once
    replaced = canvascap(*run, "--session", "talk", "--overwrite")
    assert replaced.returncode == 0 and "written as" not in replaced.stderr
    assert [r["id"] for r in lines_of(tmp_path / "talk.jsonl")] == once
    assert not (tmp_path / "talk-3.jsonl").exists()
