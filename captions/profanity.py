"""Masking listed words in displayed captions (``--profanity mask``).

Only what people see is masked: the terminal, the overlay and its feed, subtitles and
the captions sent to Zoom, YouTube and OBS. The JSON-lines transcript keeps the words
as they were said. Partials are masked too, including a word still being heard: a
partial that ends in the first letters of a listed word shows them masked, since a
greedy partial can show an obscenity for a moment before the next one corrects it.
A masked word keeps its first letter ("f***"), so captions still read naturally.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption

__all__ = ["DisplayOptions", "Masker", "default_words", "for_display"]

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_LAST_WORD = re.compile(_WORD.pattern + r"\Z")
"""The word the text ends in, if it ends in one (no space or punctuation after it)."""
PREFIX_LETTERS = 3
"""Letters a word being heard needs before it is masked as a listed word's start."""


class DisplayOptions(BaseModel):
    """``display``: what is done to captions before people see them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profanity: Literal["off", "mask"] = "off"
    """``mask`` (``--profanity mask``): listed words show as their first letter and
    asterisks; the JSON-lines transcript keeps them."""
    profanity_words: list[str] | None = None
    """The words to mask; the built-in English list (``configs/profanity-en.txt``)
    when unset."""


def default_words() -> frozenset[str]:
    """The built-in list."""
    text = resources.files("canvascap.configs").joinpath("profanity-en.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


class Masker:
    """Masks listed words in caption text."""

    def __init__(self, words: frozenset[str]) -> None:
        self.words = frozenset(w.casefold() for w in words)

    @classmethod
    def from_options(cls, options: DisplayOptions) -> Masker | None:
        """The masker the options ask for, or ``None`` when nothing is masked."""
        if options.profanity == "off":
            return None
        words = options.profanity_words
        return cls(frozenset(words) if words is not None else default_words())

    def _listed(self, word: str) -> bool:
        folded = word.casefold()
        return folded in self.words or (folded.endswith("s") and folded[:-1] in self.words)

    def _starts_listed(self, word: str) -> bool:
        folded = word.casefold()
        return len(folded) >= PREFIX_LETTERS and any(w.startswith(folded) for w in self.words)

    def mask(self, text: str, still_heard: bool = False) -> str:
        """``text`` with listed words masked; with ``still_heard``, its last word too
        when it is the start of a listed word."""
        last = _LAST_WORD.search(text) if still_heard else None

        def hide(match: re.Match[str]) -> str:
            word = match.group()
            if self._listed(word) or (
                last is not None and match.start() == last.start() and self._starts_listed(word)
            ):
                return word[0] + "*" * (len(word) - 1)
            return word

        return _WORD.sub(hide, text)

    def shown(self, caption: Caption) -> Caption:
        """``caption`` as people may see it."""
        still_heard = not caption.final
        text = self.mask(caption.text, still_heard)
        source = text if caption.source == caption.text else self.mask(caption.source, still_heard)
        if text == caption.text and source == caption.source:
            return caption
        return replace(caption, text=text, source=source)


def for_display(ctx: Context) -> Callable[[Caption], Caption]:
    """What turns a caption into what people may see in this session (terminal, overlay,
    subtitles, platforms): the session's ``Masker``, or the caption as it is.
    Transcripts of record take captions as they are."""
    masker = ctx.services.get(Masker)
    if masker is None:
        return _as_it_is
    return masker.shown


def _as_it_is(caption: Caption) -> Caption:
    return caption
