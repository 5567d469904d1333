"""Translation from the command line: presets, Whisper's own translation, llm tools.

The OpenAI-compatible server is the local stand-in for vLLM from fake_vllm.py.
"""

from __future__ import annotations

import json

import pytest

from tests.cli import canvascap
from tests.fake_vllm import FakeVllm


def test_cleanup_without_a_language_model_fails_fast_saying_how_to_start_one(jfk, tmp_path) -> None:
    # Translation needs no language model (the CPU models do it: test_translate_marian);
    # cleaning up the spoken line does.
    result = canvascap("run", "--input", str(jfk), "--cleanup", "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--cleanup needs a language model" in result.stderr and "vllm serve" in result.stderr


@pytest.mark.slow
def test_english_target_without_a_backend_uses_whisper_translation(shared_dir, tmp_path) -> None:
    clip = shared_dir / "multi" / "picovoice" / "leopard" / "test_de.wav"
    result = canvascap(
        "run",
        "--input",
        str(clip),
        "--no-realtime",
        "--translate",
        "en",
        "--out",
        str(tmp_path),
        "--session",
        "de",
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "de.jsonl").read_text().splitlines()[0])
    assert record["lang"] == "en" and "room" in record["text"].lower()


def test_live_run_writes_a_transcript_per_language(jfk, tmp_path) -> None:
    with FakeVllm() as server:
        result = canvascap(
            "run",
            "--input",
            str(jfk),
            "--no-realtime",
            "--translate",
            "es,de",
            "--llm",
            "openai",
            "--llm-url",
            server.url,
            "--out",
            str(tmp_path),
            "--session",
            "talk",
        )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "talk.jsonl").read_text().splitlines()]
    assert {r["lang"] for r in records} == {"en", "es", "de"}
    spanish = (tmp_path / "talk.es.srt").read_text()
    assert "[es] And so" in spanish or "[es] and so" in spanish.lower()
    assert "[es]" not in (tmp_path / "talk.srt").read_text()
    assert "[de" in result.stdout  # the terminal tags translated lines with their language
    assert server.refused == []


def test_vllm_preset_cleans_and_translates(jfk, tmp_path) -> None:
    with FakeVllm() as server:
        result = canvascap(
            "run",
            "--config",
            "vllm",
            "--llm-url",
            server.url,
            "--input",
            str(jfk),
            "--no-realtime",
            "--set",
            "asr.model=tiny.en",
            "--set",
            "asr.language=en",
            "--out",
            str(tmp_path),
            "--session",
            "v",
        )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    cleaned = [r for r in records if r["lang"] == "en"]
    assert cleaned and all(r["text"].startswith("[en] ") for r in cleaned)
    assert {r["lang"] for r in records} == {"en", "es", "de"}


def test_llm_check_and_bench_report_on_the_backend() -> None:
    with FakeVllm() as server:
        check = canvascap(
            "llm", "check", "--llm", "openai", "--llm-url", server.url, "--translate", "es,fr"
        )
        bench = canvascap(
            "bench", "translate", "--llm", "openai", "--llm-url", server.url, "--requests", "3"
        )
        server.mode = "missing"
        incomplete = canvascap("llm", "check", "--llm", "openai", "--llm-url", server.url)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["lines_returned"] == 4 and report["lines_missing"] == 0
    assert report["latency_s"] >= 0 and "1|fr" in report["lines"]
    figures = json.loads(bench.stdout)
    assert figures["requests"] == 3 and figures["lines_per_canvas"] >= 3
    assert figures["latency_s_p50"] <= figures["latency_s_p90"]
    assert set(figures["lag"]) == {"es", "de"} and figures["lag"]["es"]["lines"] >= 1
    assert incomplete.returncode == 1 and json.loads(incomplete.stdout)["lines_missing"] == 1
    down = canvascap("llm", "check", "--llm", "openai", "--llm-url", "http://127.0.0.1:9/v1")
    assert down.returncode == 2 and "not reachable" in down.stderr


def test_the_90th_percentile_of_a_small_run_is_never_below_its_median() -> None:
    from canvascap.pipeline.metrics import percentile

    assert percentile([1.80, 1.11], 0.9) == 1.80  # two requests: the slower one
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert percentile([0.5], 0.9) == 0.5


def test_translations_follow_low_latency_captions_within_a_second() -> None:
    # The demo clip played at 1x on the low-latency preset, with a server that takes
    # 0.3 s per request: words sent as finals mid-sentence are translated as they come.
    with FakeVllm() as server:
        server.delay_s = 0.3
        bench = canvascap(
            "bench", "translate", "--requests", "1", "--config", "low-latency",
            "--llm", "openai", "--llm-url", server.url, "--translate", "es,de",
        )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    lag = json.loads(bench.stdout)["lag"]
    for lang in ("es", "de"):
        assert lag[lang]["lines"] >= 5  # pieces, not one line per sentence
        assert lag[lang]["lag_s_p50"] <= 1.0, lag
        assert lag[lang]["lag_s_p50"] <= lag[lang]["lag_s_p90"]
