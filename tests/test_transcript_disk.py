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
from canvascap.stages.sinks.transcript import TranscriptSink
from tests.cli import canvascap, cli_env, start_canvascap, wait_for_line
from tests.timing import seconds, until


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
        jsonl = tmp_path / "disk.jsonl"
        await until(lambda: jsonl.exists() and jsonl.stat().st_size, what="the first line")
        size = jsonl.stat().st_size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, hard))  # the disk is full
        try:
            await inbox.send(final(1, "the second line does not fit on the disk"))
            await until(lambda: "transcript" in ctx.metrics.degraded, what="the refused write")
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


def test_a_killed_session_leaves_subtitles_that_parse_up_to_its_last_final(
    three_sentences, tmp_path
) -> None:
    process = start_canvascap(
        "run", "--input", str(three_sentences), "--out", str(tmp_path), "--session", "killed"
    )
    jsonl, deadline = tmp_path / "killed.jsonl", time.monotonic() + seconds(60)
    while len(jsonl.read_text().splitlines()) < 2 if jsonl.exists() else True:
        assert time.monotonic() < deadline, "two finals within a minute"
        time.sleep(0.1)
    process.kill()  # kill -9: no handler runs, nothing is flushed on the way out
    process.communicate(timeout=seconds(30))
    finals = [r["text"] for r in lines_of(jsonl)]
    srt = (tmp_path / "killed.srt").read_text()
    vtt = (tmp_path / "killed.vtt").read_text()
    blocks = [b for b in srt.split("\n\n") if b.strip()]
    assert all(re.fullmatch(r"\d+\n[\d:,]+ --> [\d:,]+\n.+", b, re.S) for b in blocks), srt
    assert vtt.startswith("WEBVTT\n\n") and vtt.count("-->") == len(blocks)
    shown = " ".join(" ".join(b.split("\n")[2:]) for b in blocks)
    assert shown.startswith(" ".join(finals[:-1])), (shown, finals)  # every cue before the last


def test_convert_rebuilds_subtitles_from_any_session(jfk, tmp_path) -> None:
    run = canvascap(
        "run",
        "--input",
        str(jfk),
        "--no-realtime",
        "--no-overlay",
        "--out",
        str(tmp_path),
        "--session",
        "talk",
    )
    assert run.returncode == 0, run.stderr
    for fmt in ("srt", "vtt"):
        rebuilt = canvascap("transcript", "convert", str(tmp_path / "talk.jsonl"), "--format", fmt)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert rebuilt.stdout == (tmp_path / f"talk.{fmt}").read_text()  # the live file, again
    # A transcript of an older version (no roles, no utterances) with a line cut short.
    old = tmp_path / "old.jsonl"
    old.write_text(
        '{"id": 0, "start_s": 0.5, "end_s": 2.0, "lang": "en", "text": "Hello there.", '
        '"source": "Hello there.", "words": []}\n'
        '{"id": 0, "start_s": 0.5, "end_s": 2.0, "lang": "es", "text": "Hola.", '
        '"source": "Hello there.", "words": []}\n'
        '{"id": 1, "start_s": 3.0, "end'
    )
    text = canvascap("transcript", "convert", str(old), "--format", "txt")
    assert text.returncode == 0 and text.stdout == "Hello there.\n"
    assert "1 damaged line(s)" in text.stderr
    spanish = canvascap("transcript", "convert", str(old), "--lang", "es", "--format", "vtt")
    assert spanish.returncode == 0 and "Hola." in spanish.stdout
    missing = canvascap("transcript", "convert", str(old), "--lang", "de")
    assert missing.returncode == 2 and "has no 'de' translation (it has: es)" in missing.stderr
