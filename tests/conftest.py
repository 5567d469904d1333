"""Shared fixtures: the vendored real-speech clips, the development data set, audio helpers.

``tests/data`` holds public-domain clips (see its README), so the suite runs in any
checkout. Tests that need clips under other licences (speech in other languages, the
NTREX translations) read canvascap's development data set: ``CANVASCAP_SHARED_DATA``,
by default ``../shared/data`` beside the checkout. Without it those tests are skipped,
each saying why; ``CANVASCAP_REQUIRE_SHARED_DATA=1`` (set by CI) makes them fail instead.
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from canvascap.captions.audio import write_wav

__all__ = ["DATA", "SHARED", "Clip", "decode", "manifest", "shared_manifest", "write_wav"]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CANVASCAP_TEST_DATA", ROOT / "tests" / "data"))
SHARED = Path(os.environ.get("CANVASCAP_SHARED_DATA", ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Clip:
    """One row of a data set's manifest."""

    path: Path
    kind: str
    lang: str
    reference: str


def _read(folder: Path) -> list[Clip]:
    with (folder / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [Clip(folder / r["path"], r["kind"], r["lang"], r["reference"]) for r in rows]


def manifest() -> list[Clip]:
    """Every vendored clip (``tests/data/manifest.tsv``)."""
    return _read(DATA)


def shared_manifest() -> list[Clip]:
    """Every clip of the development data set, other languages included."""
    return _read(SHARED)


def decode(path: Path) -> np.ndarray:
    """A file as float32 16 kHz mono, decoded with PyAV."""
    from faster_whisper import decode_audio

    return decode_audio(str(path))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The vendored real-speech clips."""
    assert (DATA / "manifest.tsv").is_file(), f"test data not found in {DATA}"
    return DATA


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The development data set, for clips that may not be copied into the project."""
    if (SHARED / "manifest.tsv").is_file():
        return SHARED
    reason = (
        "needs canvascap's development data set (speech in other languages, several "
        f"speakers and music, Apache-2.0 and CC-BY; NTREX, CC-BY-SA), not found in {SHARED}: "
        "set CANVASCAP_SHARED_DATA to its folder"
    )
    if os.environ.get("CANVASCAP_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jfk() -> Path:
    """JFK's 11 s clip (the one bundled for ``canvascap demo``)."""
    return ROOT / "app" / "assets" / "jfk.flac"


@pytest.fixture(scope="module")
def three_sentences(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three LJSpeech sentences with a second of silence after each (about 20 s)."""
    names = ("LJ001-0002.wav", "LJ001-0008.wav", "LJ001-0014.wav")
    pieces = []
    for name in names:
        pieces += [decode(data_dir / "en" / "ljspeech" / name), np.zeros(16_000, np.float32)]
    return write_wav(tmp_path_factory.mktemp("speech") / "three.wav", np.concatenate(pieces))


BARE_NAMES = ("pipeline", "stages", "web", "configs", "bench", "app")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything imported a canvascap layer under a bare name."""
    bare = sorted(name for name in sys.modules if name.split(".")[0] in BARE_NAMES)
    if bare:
        print(f"\nmodules imported under a bare name (use canvascap.*): {bare}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
