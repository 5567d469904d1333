"""``canvascap bench`` end to end on a two-clip manifest."""

from __future__ import annotations

import json

import pytest

from tests.cli import canvascap
from tests.conftest import manifest


@pytest.mark.slow
def test_bench_writes_a_complete_report(data_dir, tmp_path) -> None:
    rows = {c.path.name: c for c in manifest()}
    small = tmp_path / "manifest.tsv"
    jfk, silence = rows["jfk.flac"], rows["n.wav"]
    small.write_text(
        "path\tkind\tlang\treference\n"
        f"{jfk.path}\tspeech\ten\t{jfk.reference}\n"
        f"{silence.path}\tnonspeech\t\t\n"
    )
    result = canvascap(
        "bench", "--manifest", str(small), "--report", str(tmp_path / "r"), timeout=240
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    for path in (
        "latency.first_partial.p50",
        "latency.first_partial.p90",
        "latency.final.p50",
        "latency.final.p90",
        "wer.final",
        "wer.offline",
    ):
        node = report
        for part in path.split("."):
            node = node[part]
        assert isinstance(node, float), path
    assert report["words_timed"] >= 18 and report["wer"]["final"] <= 0.1
    assert 0 < report["latency"]["first_partial"]["p50"] <= report["latency"]["final"]["p50"]
    assert report["phantom_per_hour"] == 0 and report["cpu_per_audio_s"] > 0
    assert report["rss_peak_mb"] > 50
    assert (tmp_path / "r" / "latency.png").read_bytes()[:4] == b"\x89PNG"
    assert "| final latency p50 / p90 (s) |" in (tmp_path / "r" / "report.md").read_text()


def test_bench_without_a_manifest_says_what_to_give() -> None:
    result = canvascap("bench")
    assert result.returncode == 2 and "--manifest" in result.stderr
