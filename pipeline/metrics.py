"""Counters and lag summaries per edge and per stage.

Channels count what they carry, drop and coalesce, and record lag when an item is
received; stages add their own named counters. Nothing here does I/O: the snapshot is
logged by the CLI and served by the web overlay's health endpoint.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canvascap.pipeline.channel import Channel

__all__ = ["Metrics", "percentile"]


class Metrics:
    """A registry of edges and counters for one session."""

    def __init__(self) -> None:
        self.edges: dict[str, Channel[Any]] = {}
        self.counters: Counter[str] = Counter()
        self.timings: dict[str, deque[float]] = {}
        """Recent durations by name (the last 1000 each), e.g. translation lag."""
        self.degraded: dict[str, str] = {}
        """Stages working in a reduced way, and why (e.g. a transcript that cannot be
        written). Captions flow on; the health endpoint and the control page say so."""

    def add_edge(self, channel: Channel[Any]) -> None:
        """Track a channel under its name."""
        self.edges[channel.name] = channel

    def count(self, name: str, amount: int = 1) -> None:
        """Add to a named counter, e.g. ``asr.phantoms_rejected``."""
        self.counters[name] += amount

    def record(self, name: str, seconds: float) -> None:
        """Note one duration, e.g. ``translate.lag_s.es``."""
        self.timings.setdefault(name, deque(maxlen=1000)).append(seconds)

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
        timings = {
            name: {
                "n": len(values),
                "p50": round(statistics.median(values), 4),
                "p90": round(percentile(list(values), 0.9), 4),
            }
            for name, values in self.timings.items()
            if values
        }
        return {
            "status": "degraded" if self.degraded else "ok",
            "degraded": dict(self.degraded),
            "edges": edges,
            "counters": dict(self.counters),
            "timings": timings,
        }


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile by nearest rank: never below the median, even for two values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
