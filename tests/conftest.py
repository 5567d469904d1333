"""Shared fixtures: paths to the real-speech data set, and audio helpers."""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from canvascap.pipeline.audio import write_wav

__all__ = ["DATA", "Clip", "decode", "manifest", "write_wav"]

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CANVASCAP_TEST_DATA", ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Clip:
    """One row of the data set's manifest."""

    path: Path
    kind: str
    lang: str
    reference: str


def manifest() -> list[Clip]:
    """Every clip of ``shared/data/manifest.tsv``."""
    with (DATA / "manifest.tsv").open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [Clip(DATA / r["path"], r["kind"], r["lang"], r["reference"]) for r in rows]


def decode(path: Path) -> np.ndarray:
    """A file as float32 16 kHz mono, decoded with PyAV."""
    from faster_whisper import decode_audio

    return decode_audio(str(path))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-speech data set; the suite needs it."""
    assert (DATA / "manifest.tsv").is_file(), f"test data not found in {DATA}"
    return DATA


@pytest.fixture(scope="session")
def jfk(data_dir: Path) -> Path:
    """JFK's 11 s clip."""
    return data_dir / "en" / "jfk.flac"


BARE_NAMES = ("pipeline", "stages", "web", "configs", "bench", "app")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if anything imported a canvascap layer under a bare name."""
    bare = sorted(name for name in sys.modules if name.split(".")[0] in BARE_NAMES)
    if bare:
        print(f"\nmodules imported under a bare name (use canvascap.*): {bare}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
