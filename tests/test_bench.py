"""``canvascap bench``: the report end to end on a two-clip manifest, and word timing."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from canvascap.bench.stream import Seen, TimedWord, join_clips, word_latencies
from canvascap.captions.audio import SAMPLE_RATE
from tests.cli import canvascap, start_canvascap, wait_for_line
from tests.conftest import manifest
from tests.timing import seconds


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
        "bench",
        "--manifest",
        str(small),
        "--report",
        str(tmp_path / "r"),
        "--runs",
        "2",
        timeout=seconds(300),
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
    finals = (tmp_path / "r" / "finals.txt").read_text().lower()
    assert "ask not what your country can do for you" in finals
    assert (tmp_path / "r" / "reference.txt").read_text().strip() == jfk.reference
    # Two passes, each listed; the headline figure is their median.
    runs = report["per_run"]
    assert report["runs"] == len(runs) == 2
    p50s = sorted(r["latency"]["final"]["p50"] for r in runs)
    assert report["latency"]["final"]["p50"] == pytest.approx(sum(p50s) / 2, abs=1e-3)
    second = (tmp_path / "r" / "finals-1.txt").read_text().lower()
    assert "ask not what your country can do for you" in second
    assert "| run | first partial p50 (s) |" in (tmp_path / "r" / "report.md").read_text()


def test_later_runs_shift_the_stream_and_change_the_noise(data_dir) -> None:
    clip = next(c for c in manifest() if c.path.name == "jfk.flac")
    first = join_clips([clip.path], 1.5)
    later = join_clips([clip.path], 1.5, seed=1, lead_s=0.25)
    shift = len(later) - len(first)
    assert 0 < shift <= 0.25 * SAMPLE_RATE
    # The same speech, later in the stream; the noise between clips differs.
    speech = slice(len(first) // 3, len(first) // 2)
    assert np.array_equal(first[speech], later[speech.start + shift : speech.stop + shift])
    assert not np.array_equal(first[-1000:], later[-1000:])


def test_bench_without_a_manifest_says_what_to_give() -> None:
    result = canvascap("bench")
    assert result.returncode == 2 and "--manifest" in result.stderr


def test_a_word_split_over_two_pieces_is_timed_when_it_is_whole() -> None:
    def final(cid: int, text: str, at_s: float, joined: bool = False) -> Seen:
        message = {"id": cid, "lang": "en", "text": text, "final": True, "start_s": 0.0}
        message |= {"end_s": 2.0, "utterance": 0, "continues_word": joined}
        return Seen(message, int(at_s * 1e9))

    seen = [final(0, "may just", 1.5), final(1, "ly be", 2.0, joined=True)]
    _, finals, missed = word_latencies([TimedWord("justly", 1.2), TimedWord("be", 1.4)], seen, 0)
    assert missed == 0 and finals == [pytest.approx(0.8), pytest.approx(0.6)]


def test_ctrl_c_stops_the_bench_at_once_without_a_traceback(data_dir, tmp_path) -> None:
    clips = [c for c in manifest() if c.lang == "en"][:3]
    small = tmp_path / "manifest.tsv"
    small.write_text(
        "path\tkind\tlang\treference\n"
        + "".join(f"{c.path}\t{c.kind}\ten\t{c.reference}\n" for c in clips)
    )

    def ignore_ctrl_c() -> None:  # as a script's background job does
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    process = start_canvascap(
        "bench",
        "--manifest",
        str(small),
        "--report",
        str(tmp_path / "report"),
        "--no-nonspeech",
        preexec_fn=ignore_ctrl_c,
    )
    wait_for_line(process, "audio flows")  # mid-run: the speech is being streamed
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=seconds(30))
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "bench interrupted; no report written" in stderr
    assert not (tmp_path / "report" / "report.json").exists()


def test_a_short_soak_samples_memory_loop_lag_and_final_lag(data_dir, tmp_path) -> None:
    result = canvascap(
        "bench",
        "--manifest",
        str(data_dir / "manifest.tsv"),
        "--report",
        str(tmp_path / "soak"),
        "--soak",
        "0.05",
        timeout=seconds(300),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "soak" / "soak.json").read_text())
    samples = report["samples"]
    assert samples and samples[-1]["finals"] > 0 and samples[-1]["audio_h"] > 0.02
    assert all(s["rss_mb"] > 50 and s["loop_lag_ms_max"] >= 0 for s in samples)
    assert report["summary"]["audio_h"] == 0.05
    assert "| wall (s) | audio (h) | RSS (MB) |" in (tmp_path / "soak" / "soak.md").read_text()


def test_translation_lag_runs_from_the_final_to_the_first_real_translation() -> None:
    from canvascap.bench.cpu_translation import translation_lags

    def seen(at_s: float, lang: str, final: bool = True, stand_in: bool = False) -> Seen:
        role = "spoken" if lang == "en" else "translation"
        message = {"id": 3, "lang": lang, "final": final, "stand_in": stand_in, "role": role}
        return Seen(message, int(at_s * 1e9))

    lags = translation_lags([
        seen(0.5, "en", final=False),  # a partial: the clock starts at the final
        seen(1.0, "en"),
        seen(1.2, "es", final=False),
        seen(2.0, "es", stand_in=True),  # the source standing in is no translation
        seen(3.0, "es"),
        seen(3.5, "es"),  # a later revision does not move the lag
        seen(4.0, "fr", stand_in=True),  # never translated: no lag to report
    ])  # fmt: skip
    assert lags == {"es": [2.0]}


def test_bench_translate_cpu_names_the_missing_pair(tmp_path) -> None:
    listing = tmp_path / "clips.tsv"
    listing.write_text("path\tkind\tlang\treference\nx.wav\tspeech\ten\thello\n")
    done = canvascap(
        "bench", "translate", "--cpu", "--manifest", str(listing), "--models", str(tmp_path)
    )
    assert done.returncode == 2
    assert "no en-es model" in done.stderr and "canvascap models fetch es,fr,de" in done.stderr
    assert "Traceback" not in done.stderr
