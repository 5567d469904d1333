"""The microphone path, for real: PortAudio capturing from a PulseAudio virtual mic.

PulseAudio's null sink gives a capture device (its monitor) that PortAudio records
from exactly as from a laptop microphone; speech is played into the sink with paplay.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import cli_env, start_canvascap, wait_for_line
from tests.conftest import decode, write_wav
from tests.timing import seconds


@pytest.fixture(scope="module")
def virtual_mic() -> Iterator[dict[str, str]]:
    """A private PulseAudio server whose default source is a null sink's monitor."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        assert shutil.which(tool), f"{tool} is needed (apt install pulseaudio pulseaudio-utils)"
    runtime = tempfile.mkdtemp(prefix="canvascap-pulse-")
    os.chmod(runtime, 0o700)
    env = cli_env(XDG_RUNTIME_DIR=runtime)
    env.pop("PULSE_SERVER", None)
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
    try:
        subprocess.run(
            ["pactl", "set-default-source", "virtmic_sink.monitor"],
            env=env,
            check=True,
            timeout=seconds(30),
        )
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
    wait_for_line(process, "captioning the microphone")
    time.sleep(0.5)  # the capture stream is open before anything is played
    subprocess.run(
        ["paplay", "--device=virtmic_sink", str(speech)],
        env=virtual_mic,
        check=True,
        timeout=seconds(60),
    )
    time.sleep(2.0)  # let the last words end their utterance
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=seconds(60))
    assert process.returncode == 0, stderr
    text = " ".join(
        json.loads(line)["text"] for line in Path(tmp_path / "mic.jsonl").read_text().splitlines()
    ).lower()
    assert "fellow americans" in text and "your country" in text
    assert "fellow Americans" in stdout
