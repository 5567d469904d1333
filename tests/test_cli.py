"""The canvascap command end to end: outputs, Ctrl-C, and every kind of bad input."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.cli import ROOT, canvascap, cli_env, error_lines, start_canvascap, wait_for_line
from tests.conftest import decode, write_wav
from tests.timing import seconds


def test_run_on_a_file_prints_captions_and_writes_all_transcripts(jfk, tmp_path) -> None:
    result = canvascap(
        "run", "--input", str(jfk), "--no-realtime", "--out", str(tmp_path), "--session", "talk"
    )
    assert result.returncode == 0, result.stderr
    assert "fellow Americans" in result.stdout
    lines = [json.loads(line) for line in (tmp_path / "talk.jsonl").read_text().splitlines()]
    assert lines and all(rec["text"] and rec["end_s"] > rec["start_s"] for rec in lines)
    assert "country" in " ".join(rec["text"] for rec in lines)
    srt = (tmp_path / "talk.srt").read_text()
    vtt = (tmp_path / "talk.vtt").read_text()
    assert srt.startswith("1\n00:00:0") and "-->" in srt
    assert vtt.startswith("WEBVTT") and "fellow" in vtt


def test_transcribe_prints_text_or_writes_the_asked_format(jfk, tmp_path) -> None:
    text = canvascap("transcribe", str(jfk))
    assert text.returncode == 0, text.stderr
    assert "ask not what your country can do for you" in " ".join(text.stdout.lower().split())
    out = tmp_path / "jfk.vtt"
    written = canvascap("transcribe", str(jfk), "-o", str(out))
    assert written.returncode == 0 and written.stdout == ""
    assert out.read_text().startswith("WEBVTT")
    as_json = canvascap("transcribe", str(jfk), "--format", "json")
    assert json.loads(as_json.stdout)["captions"][0]["words"]


# Ctrl-C, `kill`, and a closing terminal or SSH session (SIGHUP) all end a session the
# same graceful way.
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_mid_utterance_still_captions_it_and_completes_files(stop, data_dir, tmp_path) -> None:
    clip = data_dir / "en" / "ljspeech" / "LJ001-0014.wav"  # one 10 s sentence
    process = start_canvascap(
        "run", "--input", str(clip), "--out", str(tmp_path), "--session", "cut"
    )
    feed = re.search(r"http://(127\.0\.0\.1:\d+)/", wait_for_line(process, "overlay http://"))
    wait_for_line(process, "captioning")  # the model is loaded, audio flows
    with connect(f"ws://{feed.group(1)}/ws", open_timeout=seconds(10)) as client:
        while "matter of course" not in json.loads(client.recv(seconds(30))).get("text", ""):
            pass  # until the words are heard, mid-sentence
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=seconds(60))
    assert process.returncode == 0, stderr
    assert "stopping after the last words" in stderr
    finals = [json.loads(line) for line in (tmp_path / "cut.jsonl").read_text().splitlines()]
    assert len(finals) == 1
    assert "matter of course" in finals[0]["text"].lower()
    assert finals[0]["end_s"] < 6.5  # the rest of the sentence was never heard
    assert finals[0]["text"] in (tmp_path / "cut.srt").read_text().replace("\n", " ")
    assert (tmp_path / "cut.vtt").read_text().startswith("WEBVTT")


BAD_INPUTS = {
    "missing file": (["run", "--input", "no/such/file.wav"], "input file not found"),
    "unknown config key": (
        ["run", "--set", "vad.hangover=300"],
        "stages.vad.options.hangover: unknown key",
    ),
    "bad config value": (["run", "--set", "asr.beam_size=wide"], "stages.asr.options.beam_size"),
    "unknown model name": (
        ["transcribe", "{jfk}", "--model", "tiny-ish"],
        "unknown model 'tiny-ish'",
    ),
    "model not downloadable offline": (
        ["transcribe", "{jfk}", "--model", "small"],
        "could not be downloaded",
    ),
    "compute type the processor lacks": (
        ["transcribe", "{jfk}", "--set", "asr.compute_type=float16"],
        "on cpu with compute type float16",
    ),
    "English-only model asked to translate": (
        ["transcribe", "{jfk}", "--task", "translate"],
        "--model base",
    ),
    "missing config file": (["run", "--config", "nowhere.yaml"], "config file not found"),
    "unknown preset": (["run", "--config", "nonexistent"], "low-latency, multilingual"),
    "port out of range": (["run", "--port", "99999"], "--port: '99999' is not a port"),
    "bad output format": (["transcribe", "{jfk}", "--format", "doc"], "invalid choice"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_one_line_exit_2_and_no_traceback(case, jfk) -> None:
    args, expected = BAD_INPUTS[case]
    result = canvascap(*[a.format(jfk=jfk) for a in args])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    problems = error_lines(result.stderr)
    assert any(expected in line for line in problems), result.stderr
    assert len([line for line in problems if "error" in line]) == 1, result.stderr


def test_unreadable_and_soundless_files_are_named(tmp_path) -> None:
    notes = tmp_path / "notes.wav"
    notes.write_text("this is not audio\n" * 50)
    subtitles = tmp_path / "subtitles.srt"
    subtitles.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    for path, expected in ((notes, "cannot decode"), (subtitles, "has no audio stream")):
        result = canvascap("run", "--input", str(path), "--no-realtime", "--out", str(tmp_path))
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert [line for line in error_lines(result.stderr) if expected in line], result.stderr


def test_no_input_device_at_all_says_how_to_go_on(tmp_path) -> None:
    # PortAudio reaches sound through PulseAudio here; pointing it nowhere leaves no device.
    result = canvascap("run", "--out", str(tmp_path), PULSE_SERVER="unix:/nonexistent")
    assert result.returncode == 2
    assert "no audio input device found" in result.stderr and "--input" in result.stderr
    assert "Traceback" not in result.stderr


def plugin_path(folder: Path, stages: dict[str, str]) -> str:
    """A PYTHONPATH on which a distribution registers ``stages`` (name -> module:Class),
    as a package of someone else's would once installed."""
    info = folder / "canvascap_test_stages-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: canvascap-test-stages\nVersion: 0\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in stages.items())
    (info / "entry_points.txt").write_text(f"[canvascap.stages]\n{lines}")
    return os.pathsep.join([str(folder), str(ROOT)])


def test_only_registered_stage_names_are_accepted(tmp_path) -> None:
    result = canvascap("run", "--set", "stages.source.use=os:system", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown stage 'os:system': use one of" in result.stderr
    assert "source.mic" in result.stderr


def test_stage_failure_names_the_stage_after_flushing_the_transcript(jfk, tmp_path) -> None:
    plugins = plugin_path(
        tmp_path / "plugins", {"test.failing_asr": "tests.failing_stage:FailingAsr"}
    )
    result = canvascap(
        "run",
        "--input",
        str(jfk),
        "--no-realtime",
        "--out",
        str(tmp_path),
        "--session",
        "crash",
        "--set",
        "stages.asr.use=test.failing_asr",
        PYTHONPATH=plugins,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "stage 'asr' failed: RuntimeError: simulated decoder crash" in result.stderr
    finals = (tmp_path / "crash.jsonl").read_text().splitlines()
    assert len(finals) == 1 and "fellow Americans" in finals[0]
    assert "fellow Americans" in (tmp_path / "crash.srt").read_text()


def test_devices_without_any_device_gives_the_same_hint_as_run() -> None:
    result = canvascap("devices", PULSE_SERVER="unix:/nonexistent")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("canvascap: error: no audio input device found")
    assert "--input" in result.stderr


WITHOUT_BENCH_EXTRA = """
import sys
for name in ("jiwer", "whisper_normalizer", "matplotlib"):
    sys.modules[name] = None  # as after a plain `pip install canvascap`
from canvascap.cli import main
sys.exit(main(["bench", "--manifest", sys.argv[1], "--report", sys.argv[2]]))
"""


def test_bench_without_its_extra_refuses_before_streaming_anything(tmp_path) -> None:
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("path\tkind\tlang\treference\nclip.wav\tspeech\ten\thello\n")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_BENCH_EXTRA, str(manifest), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=seconds(60),
    )
    assert result.returncode == 2, result.stderr
    assert "pip install 'canvascap[bench]'" in result.stderr
    assert len(error_lines(result.stderr)) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    assert time.monotonic() - started < seconds(20)


def test_a_file_with_no_decodable_audio_exits_2_with_one_line(tmp_path) -> None:
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(random.Random(7).randbytes(200_000))
    result = canvascap("run", "--input", str(garbage), "--no-realtime", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "holds no audio that can be decoded" in " ".join(error_lines(result.stderr))


def test_damaged_and_cut_short_files_are_captioned_with_a_warning_naming_the_time(
    jfk, tmp_path
) -> None:
    clip = write_wav(tmp_path / "jfk.wav", decode(jfk))  # 11 s
    cut = tmp_path / "cut.wav"
    cut.write_bytes(clip.read_bytes()[: 44 + 16_000 * 2 * 6])  # the header still says 11 s
    result = canvascap("run", "--input", str(cut), "--no-realtime", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "ends at 0:06.0 although it says it lasts 0:11.0" in result.stderr
    assert "fellow americans" in result.stdout.lower()

    damaged = tmp_path / "damaged.mp3"
    data = bytearray(encode_mp3(clip).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = random.Random(1).randbytes(2000)
    damaged.write_bytes(bytes(data))
    result = canvascap("run", "--input", str(damaged), "--no-realtime", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "could not decode" in line]
    assert len(warnings) == 1 and re.search(r"could not decode 0:0\d\.\d-0:0\d\.\d", warnings[0])
    assert "fellow americans" in result.stdout.lower()  # what comes before is captioned


def encode_mp3(wav: Path) -> Path:
    """The WAV file as MP3, encoded with PyAV."""
    import av

    target = wav.with_suffix(".mp3")
    with av.open(str(wav)) as source, av.open(str(target), "w") as sink:
        stream = sink.add_stream("mp3", rate=16_000)
        stream.layout = "mono"
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                sink.mux(packet)
        for packet in stream.encode(None):
            sink.mux(packet)
    return target
