"""Translation on any CPU: Marian models (OPUS-MT) run by CTranslate2.

A language pair's model is a folder that ``ct2-transformers-converter --model <Marian
model> --output_dir DIR --copy_files source.spm target.spm`` writes, kept as
``<models>/<src>-<tgt>/``. ``<models>`` is ``$CANVASCAP_MODELS``, or by default the
user's cache folder (``~/.cache/canvascap/models``). A pair without a model of its own
goes through English (``fr-en`` then ``en-es``).

Each pair's model is loaded once, on first use, and shared; translating is blocking
work, done in one worker thread. A caption's settled words already shown in a language
are the target prefix of its final, so a final goes on from what was shown.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PIVOT", "MarianModels", "default_models_dir", "pair_name"]

PIVOT = "en"
"""The language a pair without a model of its own goes through."""
MODEL_FILES = ("model.bin", "source.spm", "target.spm")
"""What a pair's folder must hold."""


def default_models_dir() -> Path:
    """``$CANVASCAP_MODELS``, else the user's cache folder."""
    chosen = os.environ.get("CANVASCAP_MODELS")
    if chosen:
        return Path(chosen).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "canvascap" / "models"


def pair_name(source: str, target: str) -> str:
    """The folder name of a pair: ``en-es``."""
    return f"{_base(source)}-{_base(target)}"


def _base(lang: str) -> str:
    """The language a Marian pair is named by (``pt-BR`` is ``pt``)."""
    return lang.split("-")[0].lower()


@dataclass
class _Pair:
    translator: Any  # ctranslate2.Translator (untyped)
    source: Any  # sentencepiece.SentencePieceProcessor
    target: Any


class MarianModels:
    """The pair models in one folder, loaded on first use and shared."""

    def __init__(
        self, folder: Path, device: str = "cpu", compute_type: str = "int8", threads: int = 0
    ) -> None:
        self.folder = folder
        self.device = device
        self.compute_type = compute_type
        self.threads = threads
        self._loaded: dict[str, _Pair] = {}
        self._lock = threading.Lock()

    def has(self, name: str) -> bool:
        """Whether the folder holds a model for the pair ``name``."""
        return all((self.folder / name / file).is_file() for file in MODEL_FILES)

    def route(self, source: str, target: str) -> list[str] | None:
        """The pairs that take ``source`` to ``target``: one, two through English, or
        ``None`` when the folder lacks what either way needs."""
        if _base(source) == _base(target):
            return []
        direct = pair_name(source, target)
        if self.has(direct):
            return [direct]
        first, second = pair_name(source, PIVOT), pair_name(PIVOT, target)
        if PIVOT not in (_base(source), _base(target)) and self.has(first) and self.has(second):
            return [first, second]
        return None

    def translate(
        self, route: list[str], texts: list[str], prefixes: list[str] | None = None
    ) -> list[str]:
        """``texts`` through the pairs of ``route`` (blocking). A prefix, where given,
        starts the translation (only on a route of one pair)."""
        if len(route) == 1:
            return self._one(route[0], texts, prefixes)
        for name in route:
            texts = self._one(name, texts, None)
        return texts

    def _one(self, name: str, texts: list[str], prefixes: list[str] | None) -> list[str]:
        pair = self._pair(name)
        batch = [pair.source.encode(text, out_type=str) + ["</s>"] for text in texts]
        target_prefix = None
        if prefixes is not None and any(prefixes):
            target_prefix = [pair.target.encode(p, out_type=str) if p else None for p in prefixes]
        results = pair.translator.translate_batch(
            batch,
            target_prefix=target_prefix,
            beam_size=2,
            max_decoding_length=max(16, 3 * max((len(b) for b in batch), default=0)),
        )
        return [str(pair.target.decode(r.hypotheses[0])).strip() for r in results]

    def _pair(self, name: str) -> _Pair:
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is None:
                loaded = self._loaded[name] = self._load(name)
            return loaded

    def _load(self, name: str) -> _Pair:
        import ctranslate2
        import sentencepiece

        folder = self.folder / name
        translator = ctranslate2.Translator(
            str(folder),
            device=self.device,
            compute_type=self.compute_type,
            inter_threads=1,
            intra_threads=self.threads,
        )
        source = sentencepiece.SentencePieceProcessor(model_file=str(folder / "source.spm"))
        target = sentencepiece.SentencePieceProcessor(model_file=str(folder / "target.spm"))
        return _Pair(translator, source, target)
