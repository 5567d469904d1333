"""The GPU speed script, run at a toy size on the CPU so it is ready when a GPU is."""

from __future__ import annotations

import pytest

from canvascap.bench.diffusion_speed import main
from tests.tiny_diffusion_gemma import build, corpus

pytestmark = pytest.mark.slow


def test_the_speed_script_times_every_setting_and_runs_the_stage(tmp_path, capsys) -> None:
    tiny = build(tmp_path / "tiny", corpus())
    out = tmp_path / "speed.md"
    main(
        ["--size", "tiny", "--device", "cpu", "--steps", "1,3", "--batches", "1,2"]
        + ["--repeats", "1", "--tiny-model", str(tiny), "--out", str(out)]
    )
    table = out.read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 2 * 2 * 2  # header, then batch x steps x hook
    assert "| 2 | 3 | on | 3 |" in table  # the hook saw every denoising step
    assert "requests" in table and "lines_final 120" in table  # 30 finals x (3 + cleanup)
