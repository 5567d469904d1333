"""Run the real ``canvascap`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: tests importable, never a model download."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(extra)
    return env


def canvascap(*args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``canvascap ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**env),
        cwd=ROOT,
    )


def start_canvascap(*args: str, **env: str) -> subprocess.Popen[str]:
    """Start ``canvascap ARGS`` in the background (for Ctrl-C tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(**env),
        cwd=ROOT,
    )


def error_lines(stderr: str) -> list[str]:
    """What the command said went wrong (its progress lines left out)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("canvascap: captioning")
    ]
