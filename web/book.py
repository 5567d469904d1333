"""The server's memory of recent captions, for snapshots to new and returning clients."""

from __future__ import annotations

from collections import OrderedDict

from canvascap.pipeline.types import Caption

__all__ = ["CaptionBook"]


class CaptionBook:
    """Newest revision per ``(id, lang)``: the last ``history`` finals plus open partials.

    Pure and synchronous; the server applies every revision and serves ``snapshot()``.
    """

    def __init__(self, history: int = 20) -> None:
        self.history = history
        self._lines: OrderedDict[tuple[int, str], Caption] = OrderedDict()

    def apply(self, caption: Caption) -> bool:
        """Record a revision; return False (and change nothing) if it is stale."""
        held = self._lines.get(caption.key)
        if held is not None and (held.final or held.rev >= caption.rev):
            return False
        if caption.final and not caption.text:
            self._lines.pop(caption.key, None)  # a retraction: nothing left to show
        else:
            self._lines[caption.key] = caption
        self._trim()
        return True

    def snapshot(self) -> list[Caption]:
        """Everything worth showing to a client that connects now, oldest first."""
        return sorted(self._lines.values(), key=lambda c: (c.id, c.lang))

    def _trim(self) -> None:
        finals = [key for key, c in self._lines.items() if c.final]
        for key in sorted(finals)[: max(0, len(finals) - self.history)]:
            del self._lines[key]
