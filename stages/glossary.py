"""A glossary: names and terms that recognition, cleanup and translation should get right.

One YAML file (``--glossary terms.yaml``) drives every stage::

    keep: [canvascap, Siobhan, Kubernetes]       # names and terms, kept as they are
    translate: {stream: {es: directo, de: Stream}}  # fixed renderings per language

Recognition uses it twice: the terms go into Whisper's prompt, so the decoder expects
them, and ``TermFixer`` maps close misspellings that still come out back to the term
("Canvas Camp" -> "canvascap"). The fixer never replaces a common word on its own (one
token of Whisper's vocabulary), so everyday speech is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import yaml

from canvascap.pipeline.errors import UserError

__all__ = ["Glossary", "TermFixer", "load_glossary", "recognition_prompt"]


@dataclass(frozen=True)
class Glossary:
    """Terms to keep as they are, and terms with a fixed rendering per language."""

    keep: tuple[str, ...] = ()
    translate: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def terms(self) -> tuple[str, ...]:
        """Every term, in the file's order, each once."""
        return tuple(dict.fromkeys([*self.keep, *self.translate]))


def load_glossary(path: str) -> Glossary:
    """Read a glossary file, or raise a ``UserError`` that says what is wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"cannot read glossary {path}: {error}") from None
    if not isinstance(raw, dict) or not set(raw) <= {"keep", "translate"}:
        raise UserError(f"glossary {path} must have only 'keep' and 'translate' keys")
    keep = tuple(str(t) for t in raw.get("keep") or ())
    translate = {
        str(term): {str(k): str(v) for k, v in (renderings or {}).items()}
        for term, renderings in (raw.get("translate") or {}).items()
    }
    return Glossary(keep, translate)


def recognition_prompt(glossary: Glossary) -> str:
    """Whisper prompt text that makes the terms likely: the terms alone, punctuated
    (Whisper writes in the style of its prompt). With a heading ("Glossary: ...")
    tiny.en took the prompt for a sentence to finish and stopped early."""
    return f"{', '.join(glossary.terms)}." if glossary.terms else ""


def _letters(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


SUSPECT_SIMILARITY = 0.55
"""How alike words must be to a term for a final to be decoded again with the terms."""
COMMON_RUN_SIMILARITY = 0.9
"""How alike a run of everyday words must be to a term to be taken for it."""


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    term: str
    score: float


class TermFixer:
    """Replaces runs of up to ``max_words`` words that spell a term nearly right.

    A run matches a term when their letters (case and punctuation aside) are at least
    ``similarity`` alike (difflib's ratio) and differ. A single common word
    (``is_common``) is never replaced, a run of several only when at least
    ``COMMON_RUN_SIMILARITY`` alike; terms shorter than four letters are left alone.
    Punctuation after the run is kept.
    """

    def __init__(
        self,
        terms: tuple[str, ...],
        is_common: Callable[[str], bool],
        similarity: float = 0.85,
        max_words: int = 3,
    ) -> None:
        self.terms = tuple(t for t in terms if len(_letters(t)) >= 4)
        self._targets = [(term, _letters(term)) for term in self.terms]
        self.is_common = is_common
        self._common: dict[str, bool] = {}
        self.similarity = similarity
        self.max_words = max_words

    def fix(self, text: str) -> tuple[str, list[str]]:
        """``text`` with misspelt terms set right, and the terms that were fixed."""
        words = text.split()
        if not self.terms or not words:
            return text, []
        matches = sorted(self._matches(words), key=lambda m: (-m.score, m.start))
        taken: set[int] = set()
        chosen = []
        for match in matches:
            span = set(range(match.start, match.end))
            if not span & taken:
                taken |= span
                chosen.append(match)
        for match in sorted(chosen, key=lambda m: -m.start):
            tail = re.search(r"[^\w]*$", words[match.end - 1])
            words[match.start : match.end] = [match.term + (tail.group() if tail else "")]
        return " ".join(words), [m.term for m in sorted(chosen, key=lambda m: m.start)]

    def suspects(self, text: str, similarity: float = SUSPECT_SIMILARITY) -> bool:
        """Whether ``text`` has words that may be a term heard wrong (a looser match than
        ``fix`` makes), so a decode that expects the terms is worth a try."""
        return bool(self._matches(text.split(), similarity))

    def _matches(self, words: list[str], similarity: float | None = None) -> list[_Match]:
        least = self.similarity if similarity is None else similarity
        letters = [_letters(w) for w in words]
        common = [self._is_common(w) for w in letters]
        found = []
        for start in range(len(words)):
            for end in range(start + 1, min(start + self.max_words, len(words)) + 1):
                joined = "".join(letters[start:end])
                everyday = all(common[start:end])
                if not joined or (everyday and end - start == 1):
                    continue
                # Everyday words in a row are the term only if they spell it closely
                # ("Canvas Camp" for canvascap), never a word alone ("gate" for Kate).
                needed = max(least, COMMON_RUN_SIMILARITY) if everyday else least
                for term, target in self._targets:
                    if target in letters[start:end]:
                        continue  # already right (maybe in other case): leave as said
                    score = SequenceMatcher(None, joined, target).ratio()
                    if score >= needed:
                        found.append(_Match(start, end, term, score))
        return found

    def _is_common(self, word: str) -> bool:
        """``is_common``, asked once per word: partials repeat the same words."""
        known = self._common.get(word)
        if known is None:
            known = self._common[word] = self.is_common(word)
        return known
