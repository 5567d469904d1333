"""Run the real ``canvascap`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.timing import seconds

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: tests importable, never a model download.

    Asyncio's debug mode (CI turns it on for the test process) is left out: a command's
    stderr is what these tests read, and its slow-callback notes are not the command's.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(extra)
    return env


def _command(args: tuple[str, ...]) -> list[str]:
    """The command line; live sessions get a free overlay port, never the user's 8765."""
    extra = ["--port", "0"] if args[:1] in (("run",), ("demo",)) and "--port" not in args else []
    return [sys.executable, "-m", "canvascap", *args, *extra]


def canvascap(*args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``canvascap ARGS`` to completion."""
    return subprocess.run(
        _command(args),
        capture_output=True,
        text=True,
        timeout=seconds(timeout),
        env=cli_env(**env),
        cwd=ROOT,
    )


def start_canvascap(
    *args: str, stdout: Any = subprocess.PIPE, preexec_fn: Any = None, **env: str
) -> subprocess.Popen[str]:
    """Start ``canvascap ARGS`` in the background (for Ctrl-C tests); ``stdout`` may be
    any file or descriptor, e.g. a pipe nobody reads; ``preexec_fn`` runs in the child."""
    return subprocess.Popen(
        _command(args),
        stdout=stdout,
        preexec_fn=preexec_fn,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(**env),
        cwd=ROOT,
    )


def wait_for_line(process: subprocess.Popen[str], text: str) -> str:
    """Read stderr until a line containing ``text``; return it."""
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return line
    raise AssertionError(f"canvascap ended without saying {text!r}")


def error_lines(stderr: str) -> list[str]:
    """What the command said went wrong (its progress lines left out)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith(("canvascap: captioning", "canvascap: overlay"))
    ]
