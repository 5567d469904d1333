"""Translation on any CPU: Marian models run by CTranslate2, one folder per pair.

The models are tiny, random and built in the test from the real classes
(``canvascap.bench.random_marian``): they translate into garbage, so the tests assert what a user
relies on - every final gets a line in every language, the pair's model is found or
reached through English, a missing pair is a one-line error - not the wording.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from canvascap.bench.random_marian import build_pair
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.testing import run_stage
from canvascap.pipeline.types import Caption, Role
from canvascap.stages.translation.engines.marian import MarianModels
from canvascap.stages.translation.stage import TranslateOptions, TranslateStage
from tests.cli import canvascap
from tests.timing import seconds

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for pair in ("en-es", "en-fr", "de-en"):
        build_pair(folder, pair)
    return folder


def final(cid: int, text: str, lang: str = "en") -> Caption:
    return Caption(
        cid, 1, True, text, text, lang, cid * 2.0, cid * 2.0 + 1.5, time.monotonic_ns(), len(text)
    )


def test_a_pair_is_found_directly_or_through_english(models) -> None:
    found = MarianModels(models)
    assert found.route("en", "es") == ["en-es"]
    assert found.route("de", "fr") == ["de-en", "en-fr"]  # no de-fr: through English
    assert found.route("pt-BR", "es") is None
    assert found.route("en", "en") == []
    assert found.has("en-es") and not found.has("es-en")


def test_a_settled_translation_starts_the_final(models) -> None:
    found = MarianModels(models)
    kept = found.translate(["en-es"], ["good morning"])[0]
    assert kept
    line = found.translate(["en-es"], ["good morning everyone"], [kept])[0]
    assert line.startswith(kept)


async def test_every_final_gets_a_line_in_every_language(models) -> None:
    options = TranslateOptions(engine="ctranslate2", models=str(models), targets=["es", "fr"])
    stage = TranslateStage(options, Context(session="t"))
    spoken = ["good morning everyone", "thank you for joining the call today", "we will look"]
    out = await run_stage(stage, [final(cid, text) for cid, text in enumerate(spoken)])
    for lang in ("es", "fr"):
        lines = {c.id: c for c in out if c.lang == lang and c.final}
        assert sorted(lines) == [0, 1, 2], lang
        assert all(c.role is Role.TRANSLATION and not c.stand_in for c in lines.values())
        assert all(c.text and c.source == spoken[c.id] for c in lines.values())
    assert stage.ctx.metrics.counters["translate.lines_untranslated"] == 0


async def test_a_language_heard_without_a_model_is_shown_untranslated_and_said_once(
    models, caplog
) -> None:
    options = TranslateOptions(engine="ctranslate2", models=str(models), targets=["es"])
    stage = TranslateStage(options, Context(session="t"))
    out = await run_stage(stage, [final(0, "bonjour", "fr"), final(1, "merci", "fr")])
    spanish = [c for c in out if c.lang == "es" and c.final]
    assert [c.stand_in for c in spanish] == [True, True]
    said = [r.getMessage() for r in caplog.records if "fr-es" in r.getMessage()]
    assert len(said) == 1 and str(models) in said[0]


async def test_a_missing_pair_stops_the_session_at_once_naming_it(tmp_path) -> None:
    options = TranslateOptions(engine="ctranslate2", models=str(tmp_path), targets=["es"])
    stage = TranslateStage(options, Context(session="t"))
    with pytest.raises(UserError, match="no translation model for en-es") as refused:
        await stage.prepare()
    assert str(tmp_path / "en-es") in str(refused.value)
    await stage.aclose()


def test_cleanup_needs_a_language_model() -> None:
    with pytest.raises(ValueError, match="cleanup needs a language model"):
        TranslateOptions(engine="ctranslate2", targets=["es"], cleanup=True)


def test_translate_without_a_server_uses_the_cpu_models(models, jfk, tmp_path) -> None:
    result = canvascap(
        "run", "--input", str(jfk), "--no-realtime", "--no-overlay", "--out", str(tmp_path),
        "--session", "cpu", "--translate", "es,fr", CANVASCAP_MODELS=str(models),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "cpu.jsonl").read_text().splitlines()]
    spoken = [r for r in records if r["lang"] == "en"]
    for lang in ("es", "fr"):
        lines = [r for r in records if r["lang"] == lang]
        assert len(lines) == len(spoken) and not any(r["stand_in"] for r in lines), lang
        assert (tmp_path / f"cpu.{lang}.srt").read_text().strip()


def test_offline_without_the_pair_run_exits_2_naming_it(jfk, tmp_path) -> None:
    started = time.monotonic()
    result = canvascap(
        "run", "--input", str(jfk), "--no-overlay", "--out", str(tmp_path),
        "--translate", "es", CANVASCAP_MODELS=str(tmp_path / "none"),
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "canvascap models fetch en-es" in errors[0]
    assert "CANVASCAP_MODELS" in errors[0]
    assert time.monotonic() - started < seconds(30)
