"""The microphone path, for real: PortAudio capturing from a PulseAudio virtual mic.

PulseAudio's null sink gives a capture device (its monitor) that PortAudio records
from exactly as from a laptop microphone; speech is played into the sink with paplay.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import cli_env, start_canvascap, wait_for_line
from tests.conftest import decode, write_wav
from tests.timing import seconds


def start_pulse(env: dict[str, str]) -> None:
    """Start the PulseAudio server with the virtual microphone (a null sink's monitor)."""
    subprocess.run(
        [
            "pulseaudio",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--system=false",
            "-n",
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=virtmic_sink",
            "--load=module-always-sink",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=seconds(30),
    )
    subprocess.run(
        ["pactl", "set-default-source", "virtmic_sink.monitor"],
        env=env,
        check=True,
        timeout=seconds(30),
    )


@pytest.fixture(scope="module")
def virtual_mic() -> Iterator[dict[str, str]]:
    """A private PulseAudio server whose default source is a null sink's monitor."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        assert shutil.which(tool), f"{tool} is needed (apt install pulseaudio pulseaudio-utils)"
    runtime = tempfile.mkdtemp(prefix="canvascap-pulse-")
    os.chmod(runtime, 0o700)
    env = cli_env(XDG_RUNTIME_DIR=runtime)
    env.pop("PULSE_SERVER", None)
    try:
        start_pulse(env)
        yield env
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, timeout=seconds(30))
        shutil.rmtree(runtime, ignore_errors=True)


def test_unknown_device_is_named_with_the_fix(virtual_mic, tmp_path) -> None:
    process = start_canvascap(
        "run", "--device", "no-such-mic", "--out", str(tmp_path), **virtual_mic
    )
    _, stderr = process.communicate(timeout=seconds(120))
    assert process.returncode == 2
    assert "unknown input device 'no-such-mic'" in stderr and "canvascap devices" in stderr
    assert "Traceback" not in stderr


def test_speech_into_the_virtual_mic_is_captioned(virtual_mic, jfk, tmp_path) -> None:
    speech = write_wav(tmp_path / "jfk16k.wav", decode(jfk))
    process = start_canvascap(
        "run", "--device", "pulse", "--out", str(tmp_path), "--session", "mic", **virtual_mic
    )
    port = port_of(wait_for_line(process, "overlay http://"))
    wait_for_line(process, "captioning the microphone")
    wait_until(lambda: frames_sent(port) > 0, 10, "frames from the capture stream")
    subprocess.run(
        ["paplay", "--device=virtmic_sink", str(speech)],
        env=virtual_mic,
        check=True,
        timeout=seconds(60),
    )
    transcript = tmp_path / "mic.jsonl"
    wait_until(lambda: "your country" in said(transcript), 20, "the last words as a final")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=seconds(60))
    assert process.returncode == 0, stderr
    text = " ".join(
        json.loads(line)["text"] for line in Path(tmp_path / "mic.jsonl").read_text().splitlines()
    ).lower()
    assert "fellow americans" in text and "your country" in text
    assert "fellow Americans" in stdout


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        return json.loads(answer.read())


def health_status(port: int) -> str:
    return str(health(port)["status"])


def port_of(overlay_line: str) -> int:
    return int(re.search(r"127\.0\.0\.1:(\d+)/", overlay_line).group(1))


def frames_sent(port: int) -> int:
    """Audio frames the microphone has delivered so far (the source's edge)."""
    return int(health(port)["edges"]["source->vad"]["sent"])


def said(transcript: Path) -> str:
    """The finals written so far, lower-cased."""
    if not transcript.exists():
        return ""
    return " ".join(
        json.loads(line)["text"] for line in transcript.read_text().splitlines()
    ).lower()


def wait_until(check, limit_s: float, what: str) -> None:
    """Poll ``check`` (every 0.25 s) until it holds; fail naming ``what`` after the limit."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds(limit_s), f"not within {limit_s} s: {what}"
        time.sleep(0.25)


def wait_for_status(port: int, wanted: str, limit_s: float) -> float:
    """Poll the health endpoint until it says ``wanted``; return how long it took."""
    started = time.monotonic()
    while health_status(port) != wanted:
        assert time.monotonic() - started < seconds(limit_s), f"health never said {wanted}"
        time.sleep(0.25)
    return time.monotonic() - started


def test_a_vanished_microphone_is_reported_and_captioning_resumes(
    virtual_mic, jfk, tmp_path
) -> None:
    speech = write_wav(tmp_path / "jfk16k.wav", decode(jfk))
    process = start_canvascap("run", "--out", str(tmp_path), "--session", "lost", **virtual_mic)
    port = port_of(wait_for_line(process, "overlay http://"))
    wait_for_line(process, "captioning the microphone")
    wait_until(lambda: frames_sent(port) > 0, 10, "frames (a new stream takes up to 2 s)")
    subprocess.run(["pulseaudio", "--kill"], env=virtual_mic, timeout=seconds(30))
    noticed_s = wait_for_status(port, "degraded", 10)
    start_pulse(virtual_mic)  # the sound server is back
    wait_for_status(port, "ok", 30)
    before = frames_sent(port)
    wait_until(lambda: frames_sent(port) > before, 10, "frames from the reopened stream")
    subprocess.run(
        ["paplay", "--device=virtmic_sink", str(speech)],
        env=virtual_mic,
        check=True,
        timeout=seconds(60),
    )
    transcript = tmp_path / "lost.jsonl"
    wait_until(lambda: "fellow americans" in said(transcript), 20, "JFK's words as finals")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=seconds(60))
    assert process.returncode == 0, stderr
    assert noticed_s < 3, "a vanished device is noticed within about 2 s"
    assert "reopening it as soon as it is back" in stderr and "again after" in stderr
    text = " ".join(
        json.loads(line)["text"] for line in (tmp_path / "lost.jsonl").read_text().splitlines()
    ).lower()
    assert "fellow americans" in text
