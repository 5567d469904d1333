"""One caption line asked of an ordinary chat model, and its answer cleaned.

An instruct model behind llama.cpp, Ollama, LM Studio or vLLM is not DiffusionGemma:
it cannot hold a canvas, and asked for many labelled lines at once, small models copy
the prompt's template back or wrap lines in its quotes. So each line is one plain
request (``Translate to Spanish: ...``), the form such models answer best (measured in
``docs/translation.md``), and the answer's form is held by the server where it can: a
grammar or a regular expression that allows one line with no quotes, brackets or
markers. Whatever comes back is still cleaned here, and a line that is not a
translation (empty, the source copied, a placeholder, a loop) is refused, so the
stage shows the source as a stand-in instead. Pure: no I/O.
"""

from __future__ import annotations

import re

from canvascap.stages.glossary import Glossary
from canvascap.stages.translation.packing import LANGUAGE_NAMES, plausible_length

__all__ = ["CLEAN_LINE_GBNF", "CLEAN_LINE_REGEX", "chat_messages", "clean_line"]

CLEAN_LINE_REGEX = r'[^"<>|\[\]{}\n«»“”]{1,400}'
"""One line without quotes, brackets or markers, as vLLM's structured outputs take it."""
CLEAN_LINE_GBNF = 'root ::= [^"<>|\\[\\]{}\\n«»“”]+'
"""The same line as a llama.cpp grammar."""


def chat_messages(
    text: str, source: str, target: str, glossary: Glossary | None = None
) -> list[dict[str, str]]:
    """The messages for one line: a translation, or (target = source) a cleaned caption."""
    if target == source:
        ask = (
            f"Rewrite this {_name(source)} speech-recognition caption with correct "
            f"punctuation and casing, without fillers: {text}"
        )
    else:
        ask = f"Translate to {_name(target)}: {text}"
    terms = _glossary_terms(glossary, text, target) if glossary is not None else []
    if terms:
        ask += "\n(" + "; ".join(terms) + ")"
    return [{"role": "user", "content": ask}]


def _glossary_terms(glossary: Glossary, text: str, target: str) -> list[str]:
    """Only the terms this caption says: a long glossary would drown a small model."""
    lowered = text.lower()
    out = [f"keep '{term}' as it is" for term in glossary.keep if term.lower() in lowered]
    for term, renderings in glossary.translate.items():
        if term.lower() in lowered and target in renderings:
            out.append(f"'{term}' is '{renderings[target]}'")
    return out


_LABEL = re.compile(
    r"^\s*(?:translation|translated|answer|caption|output|result|[a-z]{2}(?:-[a-z]{2,4})?|"
    + "|".join(re.escape(name) for name in LANGUAGE_NAMES.values())
    + r")(?:\s+translation)?\s*:\s*",
    re.I,
)
_WRAPPERS = (("<<<", ">>>"), ('"', '"'), ("“", "”"), ("«", "»"), ("'", "'"), ("*", "*"))
_MARKUP = re.compile(r"<\|?/?[\w|]*\|?>|</?s>|<end_of_turn>|<start_of_turn>")
_PLACEHOLDER = re.compile(r"^<[^<>]*>$")


def clean_line(answer: str, source_text: str, source: str, target: str) -> str | None:
    """The answer as one caption line, or None when it is not a usable line."""
    text = _MARKUP.sub(" ", answer)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    line = _unwrap(_LABEL.sub("", _unwrap(lines[0]), count=1).strip())
    line = " ".join(line.split())
    if not line or _PLACEHOLDER.match(line):
        return None
    if not plausible_length(line, source_text) or _loops(line):
        return None
    if target != source and _norm(source_text) in _norm(line):
        return None  # the source copied back, alone or inside a note, is no translation
    return line


def _unwrap(line: str) -> str:
    """Strip quotes or markers around the whole line, however many layers."""
    changed = True
    while changed and line:
        changed = False
        for opening, closing in _WRAPPERS:
            if len(line) > len(opening) + len(closing) and line.startswith(opening):
                inner = line[len(opening) :]
                if inner.rstrip(".!?").endswith(closing):
                    end = inner.rstrip(".!?")
                    tail = inner[len(end) :]
                    line = (end[: -len(closing)] + tail).strip()
                    changed = True
                elif closing not in inner:
                    line = inner.strip()  # an opening quote never closed
                    changed = True
    return line


def _loops(line: str) -> bool:
    """A model stuck repeating itself: some three words come back three times or more."""
    words = re.sub(r"[^\w\s]+", " ", line.lower()).split()
    seen: dict[tuple[str, ...], int] = {}
    for index in range(len(words) - 2):
        gram = tuple(words[index : index + 3])
        seen[gram] = seen.get(gram, 0) + 1
        if seen[gram] >= 3:
            return True
    return False


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _name(lang: str) -> str:
    return LANGUAGE_NAMES.get(lang.split("-")[0].lower(), lang)
