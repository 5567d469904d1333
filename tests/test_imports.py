"""The core imports without any heavy library: no PortAudio, no Whisper engine."""

from __future__ import annotations

import subprocess
import sys

from tests.cli import ROOT
from tests.timing import seconds

BLOCKED = ("sounddevice", "faster_whisper", "ctranslate2", "onnxruntime", "av", "torch")

SCRIPT = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # any import of these now raises ImportError
import canvascap.pipeline, canvascap.stages, canvascap.web, canvascap.configs
import canvascap.cli, canvascap.pipeline.runner, canvascap.captions.formats
import canvascap.pipeline.testing, canvascap.testing
import canvascap.stages.recognition.vad, canvascap.stages.recognition.asr
import canvascap.stages.sinks.terminal
import canvascap.stages.sinks.transcript, canvascap.stages.translation.stage
import canvascap.stages.translation.packing, canvascap.cli.translate
from canvascap.pipeline.config import load_config
config = load_config(None)
if list(config.stages) != ["source", "vad", "asr"]:
    raise SystemExit(f"unexpected default stages: {{list(config.stages)}}")
canvascap.cli.build_parser().parse_args(["run", "--input", "x.wav"])
print("ok")
"""


def test_core_imports_with_heavy_libraries_missing() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=seconds(60),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_every_command_has_help_and_the_version_is_printed() -> None:
    for command in ([], ["run"], ["demo"], ["transcribe"], ["devices"], ["bench"], ["llm"]):
        result = subprocess.run(
            [sys.executable, "-m", "canvascap", *command, "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=seconds(60),
        )
        assert result.returncode == 0 and "usage: canvascap" in result.stdout
    version = subprocess.run(
        [sys.executable, "-m", "canvascap", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=seconds(60),
    )
    from importlib.metadata import version as installed

    assert version.returncode == 0
    assert version.stdout.strip() == f"canvascap {installed('canvascap')}"
