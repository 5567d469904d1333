"""An output that stops reading never stops the captions.

A terminal paused with Ctrl-S, a pipe nobody reads and a pipe whose reader has gone
(``canvascap run | head``) are all real here: a pseudo-terminal that receives Ctrl-S,
an OS pipe filled to the brim, and a pipe closed by its reader.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.cli import canvascap, start_canvascap, wait_for_line
from tests.timing import seconds

F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, named only from Python 3.10 on some builds
CTRL_S, CTRL_Q = b"\x13", b"\x11"


def overlay_port(process: subprocess.Popen[str]) -> int:
    line = wait_for_line(process, "overlay http://")
    return int(re.search(r"127\.0\.0\.1:(\d+)/", line).group(1))


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
        return json.loads(response.read())


def finals_in(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_paused_terminal_holds_up_nothing_else(three_sentences, tmp_path) -> None:
    controller, terminal = pty.openpty()
    os.write(controller, CTRL_S)  # the viewer pressed Ctrl-S: the terminal stops output
    try:
        process = start_canvascap(
            "run",
            "--input",
            str(three_sentences),
            "--out",
            str(tmp_path),
            "--session",
            "paused",
            stdout=terminal,
        )
        os.close(terminal)
        port = overlay_port(process)
        transcript = tmp_path / "paused.jsonl"
        deadline = time.monotonic() + seconds(60)
        while not (transcript.exists() and transcript.read_text()):
            assert time.monotonic() < deadline, "no final within a minute"
            time.sleep(0.2)
        # A final has gone to the paused terminal; the session goes on regardless:
        # health answers at once, and every later final reaches the transcript.
        answers = []
        for _ in range(8):
            started = time.monotonic()
            answers.append((health(port)["status"], time.monotonic() - started))
            time.sleep(1)
        _, stderr = process.communicate(timeout=seconds(60))
    finally:
        os.write(controller, CTRL_Q)
        os.close(controller)
    assert process.returncode == 0, stderr
    assert all(status == "ok" and took < 1 for status, took in answers), answers
    text = " ".join(f["text"] for f in finals_in(tmp_path / "paused.jsonl")).lower()
    assert "comparatively modern" in text and "middle ages" in text
    assert (tmp_path / "paused.srt").read_text().count("-->") >= 3


def test_a_pipe_nobody_reads_holds_up_nothing_else(three_sentences, tmp_path) -> None:
    reader, writer = os.pipe()
    fcntl.fcntl(writer, F_SETPIPE_SZ, 4096)
    os.set_blocking(writer, False)
    try:  # fill the pipe: the first caption line written will block
        while True:
            os.write(writer, b"." * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(writer, True)
    process = start_canvascap(
        "run",
        "--input",
        str(three_sentences),
        "--no-realtime",
        "--out",
        str(tmp_path),
        "--session",
        "unread",
        stdout=writer,
    )
    os.close(writer)
    try:
        _, stderr = process.communicate(timeout=seconds(120))
    finally:
        os.close(reader)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert len(finals_in(tmp_path / "unread.jsonl")) >= 3
    assert (tmp_path / "unread.vtt").read_text().count("-->") >= 3


def test_a_pipe_whose_reader_left_ends_the_session_like_ctrl_c(three_sentences, tmp_path) -> None:
    process = start_canvascap(
        "run", "--input", str(three_sentences), "--out", str(tmp_path), "--session", "head"
    )
    first = process.stdout.readline()  # `| head -n 1`: one line, then the reader goes
    process.stdout.close()
    stderr = process.stderr.read()
    process.wait(timeout=seconds(60))
    assert first.strip() and process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "stopped: the terminal output closed" in stderr
    finals = finals_in(tmp_path / "head.jsonl")
    assert finals and (tmp_path / "head.srt").read_text().count("-->") >= len(finals)
    assert finals[-1]["end_s"] < 18, "the session stopped early, before the input ended"


def test_piped_finals_arrive_one_line_each(three_sentences, tmp_path) -> None:
    result = canvascap(
        "run",
        "--input",
        str(three_sentences),
        "--no-realtime",
        "--no-overlay",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 3 and all(re.match(r"\[\d\d:\d\d\] \S", line) for line in lines)
    assert "Traceback" not in result.stderr
