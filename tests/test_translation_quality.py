"""``bench translate --quality``: NTREX-128 lines through the live translation path and
one per request, scored with chrF. A stand-in for vLLM and a tiny random model take the
real model's place (it cannot run here), so these tests prove the path, not a score."""

from __future__ import annotations

import json

import pytest

from tests.cli import canvascap
from tests.fake_vllm import FakeVllm
from tests.tiny_diffusion_gemma import build, corpus


def test_quality_scores_both_ways_against_the_references(shared_dir) -> None:
    with FakeVllm() as server:
        done = canvascap(
            "bench", "translate", "--quality", "--mt", str(shared_dir / "mt"),
            "--lines", "12", "--translate", "es,ja",
            "--llm", "openai", "--llm-url", server.url,
        )  # fmt: skip
        requests = server.requests
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["lines"] == 12 and set(report["chrF"]) == {"es", "ja"}
    for scores in report["chrF"].values():
        # The stand-in copies the English: the same text both ways, a low but real score.
        assert 0 < scores["packed"] == scores["one_per_request"] < 60
    alone = 12 * 2
    assert len(requests) - alone < alone / 2  # packed: far fewer requests than lines
    assert "note" not in report


@pytest.mark.slow
def test_quality_runs_end_to_end_on_an_in_process_model_and_says_it_means_nothing(
    shared_dir, tmp_path
) -> None:
    tiny = build(tmp_path / "tiny", corpus())
    done = canvascap(
        "bench", "translate", "--quality", "--mt", str(shared_dir / "mt"), "--lines", "4",
        "--translate", "es", "--llm", "transformers", "--llm-model", str(tiny),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["chrF"]["es"]) == {"packed", "one_per_request"}
    assert "meaningless" in report["note"]


def test_quality_without_references_says_where_to_find_them() -> None:
    done = canvascap("bench", "translate", "--quality", "--llm-url", "http://127.0.0.1:9/v1")
    assert done.returncode == 2 and "--mt DIR" in done.stderr
    assert "Traceback" not in done.stderr
