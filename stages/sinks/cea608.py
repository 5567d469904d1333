"""Caption text laid out for CEA-608, the closed captions of broadcast and live streams.

A CEA-608 display holds rows of at most 32 characters. Live captions use roll-up: each
new row appears at the bottom and pushes the rows above it up, with 2 or 3 rows on
screen. ``rows`` cuts text into such rows at word boundaries; ``RollUp`` keeps what a
roll-up display shows; ``reading_s`` says how long a row needs on screen. Pure.
"""

from __future__ import annotations

from collections import deque

__all__ = ["ROW_CHARS", "RollUp", "reading_s", "rows"]

ROW_CHARS = 32


def rows(text: str, width: int = ROW_CHARS) -> list[str]:
    """``text`` as rows of at most ``width`` characters, cut between words (a word
    longer than a row is cut where the row ends)."""
    out: list[str] = []
    row = ""
    for word in text.split():
        while len(word) > width:
            if row:
                out.append(row)
                row = ""
            out.append(word[:width])
            word = word[width:]
        if not row:
            row = word
        elif len(row) + 1 + len(word) <= width:
            row = f"{row} {word}"
        else:
            out.append(row)
            row = word
    if row:
        out.append(row)
    return out


class RollUp:
    """The rows a roll-up display shows: the newest at the bottom, ``depth`` at most."""

    def __init__(self, depth: int = 2) -> None:
        self._depth = depth
        self._shown: deque[str] = deque(maxlen=depth)

    def with_row(self, row: str) -> str:
        """The display once ``row`` is added at the bottom (nothing changes yet)."""
        return "\n".join([*self._shown, row][-self._depth :])

    def push(self, row: str) -> str:
        """Add a row at the bottom; return the whole display, rows joined by newlines."""
        self._shown.append(row)
        return "\n".join(self._shown)


def reading_s(row: str, cps: float) -> float:
    """How long a row should stay the newest one, at ``cps`` characters a second."""
    return max(1.0, len(row) / cps)
