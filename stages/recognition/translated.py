"""Whether Whisper's "translation" into English is English at all.

Asked to translate (``asr.task=translate``), a small multilingual Whisper sometimes
writes down the speech as heard instead, in the speaker's language, or mishears the
language altogether (synthetic French heard as Thai). Labelling that text ``en`` would
pass French off as English on every output. English text is a third or more function
words (the, of, and, to, ...); text in another language, or another script, has
almost none. Pure: the recogniser labels the text by what this says.
"""

from __future__ import annotations

import re

__all__ = ["looks_english", "translation_lang"]

_FUNCTION_WORDS = frozenset(
    """a about after all also am an and any are as at be been but by can could did do
    does for from had has have he her here him his how i if in into is it its just me
    more my no not now of on one only or our out she so some than that the their them
    then there these they this those to up us was we were what when where which who
    will with would you your""".split()
)
MIN_WORDS = 4
"""Below this many words there is too little to tell: the label stays ``en``."""
MIN_SHARE = 0.12
"""Least share of English function words in English text; everyday English has 0.3-0.5."""


def looks_english(text: str) -> bool:
    """Whether ``text`` reads as English (short texts are given the benefit of doubt)."""
    words = re.findall(r"\w+(?:'\w+)?", text.lower())
    if not words:
        return True
    if not all(word.isascii() for word in words) and _non_latin(text):
        return False
    if len(words) < MIN_WORDS:
        return True
    share = sum(word in _FUNCTION_WORDS for word in words) / len(words)
    return share >= MIN_SHARE


def translation_lang(text: str, heard: str) -> str:
    """The language to label a translate decode with: ``en`` when it is English, else
    the language Whisper heard (its text is that language, untranslated)."""
    return "en" if looks_english(text) or heard == "en" else heard


def _non_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(not ch.isascii() and not _latin_letter(ch) for ch in letters) > len(letters) / 2


def _latin_letter(ch: str) -> bool:
    return "\u00c0" <= ch <= "\u024f"
