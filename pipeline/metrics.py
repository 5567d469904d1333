"""Counters and lag summaries per edge and per stage.

Channels count what they carry, drop and coalesce, and record lag when an item is
received; stages add their own named counters. Nothing here does I/O: the snapshot is
logged by the CLI and served by the web overlay's health endpoint.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canvascap.pipeline.channel import Channel

__all__ = ["Metrics"]


class Metrics:
    """A registry of edges and counters for one session."""

    def __init__(self) -> None:
        self.edges: dict[str, Channel[Any]] = {}
        self.counters: Counter[str] = Counter()
        self.degraded: dict[str, str] = {}
        """Stages working in a reduced way, and why (e.g. a transcript that cannot be
        written). Captions flow on; the health endpoint and the control page say so."""

    def add_edge(self, channel: Channel[Any]) -> None:
        """Track a channel under its name."""
        self.edges[channel.name] = channel

    def count(self, name: str, amount: int = 1) -> None:
        """Add to a named counter, e.g. ``asr.phantoms_rejected``."""
        self.counters[name] += amount

    def degrade(self, stage: str, reason: str) -> bool:
        """Mark a stage degraded; return whether it was not already."""
        fresh = stage not in self.degraded
        self.degraded[stage] = reason
        return fresh

    def recover(self, stage: str) -> bool:
        """Clear a stage's degraded mark; return whether it had one."""
        return self.degraded.pop(stage, None) is not None

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready summary: depth, sent, drops, coalesces and lag per edge."""
        edges = {}
        for name, channel in self.edges.items():
            lags = list(channel.stats.lags_s)
            edges[name] = {
                "depth": channel.qsize(),
                "sent": channel.stats.sent,
                "dropped": channel.stats.dropped,
                "coalesced": channel.stats.coalesced,
                "lag_s_p50": round(statistics.median(lags), 4) if lags else None,
                "lag_s_max": round(max(lags), 4) if lags else None,
            }
        return {
            "status": "degraded" if self.degraded else "ok",
            "degraded": dict(self.degraded),
            "edges": edges,
            "counters": dict(self.counters),
        }
