"""The core imports without any heavy library: no PortAudio, no Whisper engine."""

from __future__ import annotations

import subprocess
import sys

from tests.cli import ROOT

BLOCKED = ("sounddevice", "faster_whisper", "ctranslate2", "onnxruntime", "av", "torch")

SCRIPT = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # any import of these now raises ImportError
import pipeline, stages, web, configs
import pipeline.cli, pipeline.runner, pipeline.formats, pipeline.testing
import stages.vad, stages.asr, stages.terminal, stages.transcript, stages.translate
import pipeline.cli_translate, stages.translate_packing
from pipeline.config import load_config
config = load_config(None)
assert list(config.stages) == ["source", "vad", "asr"]
pipeline.cli.build_parser().parse_args(["run", "--input", "x.wav"])
print("ok")
"""


def test_core_imports_with_heavy_libraries_missing() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_every_command_has_help() -> None:
    for command in ([], ["run"], ["demo"], ["transcribe"], ["devices"]):
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", *command, "--help"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert result.returncode == 0 and "usage: canvascap" in result.stdout
