"""Who is speaking: speaker embeddings grouped into labelled speakers, as pure functions.

Live, every final utterance joins the nearest known speaker when its voice is close
enough (cosine similarity of unit-length embeddings at least ``threshold``) and opens a
new one otherwise; labels are ``S1``, ``S2``, ... in order of first appearance. A long
utterance is also cut into turns where its voice changes (``turns``). Offline, a whole
file is clustered at once (``cluster_offline``), so an early utterance is judged with
everything heard after it. Nothing here knows where the embeddings came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["OnlineSpeakers", "Turn", "cluster_offline", "label", "turns"]


def label(index: int) -> str:
    """The label of the ``index``-th speaker heard (0 -> ``S1``)."""
    return f"S{index + 1}"


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@dataclass
class OnlineSpeakers:
    """Speakers known so far, each a running mean of the voices given to it."""

    threshold: float
    max_speakers: int = 8
    centroids: list[np.ndarray] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def nearest(self, embedding: np.ndarray) -> tuple[int, float]:
        """The closest known speaker and its similarity (-1 and -1.0 when none)."""
        if not self.centroids:
            return -1, -1.0
        similarities = np.stack(self.centroids) @ _unit(embedding)
        best = int(np.argmax(similarities))
        return best, float(similarities[best])

    def peek(self, embedding: np.ndarray, threshold: float | None = None) -> int:
        """Whom ``embedding`` would join, without learning from it (for partials);
        ``threshold`` replaces the usual one (for a short utterance, whose print is
        less sure)."""
        best, similarity = self.nearest(embedding)
        needed = self.threshold if threshold is None else threshold
        if best >= 0 and (similarity >= needed or self._full):
            return best
        return len(self.centroids)

    def assign(
        self, embedding: np.ndarray, weight: float = 1.0, threshold: float | None = None
    ) -> int:
        """Give ``embedding`` (of ``weight`` seconds of speech) to a speaker, new or known."""
        index = self.peek(embedding, threshold)
        unit = _unit(embedding)
        if index == len(self.centroids):
            self.centroids.append(unit)
            self.weights.append(weight)
            return index
        total = self.weights[index] + weight
        mean = self.centroids[index] * (self.weights[index] / total) + unit * (weight / total)
        self.centroids[index] = _unit(mean)
        self.weights[index] = total
        return index

    @property
    def _full(self) -> bool:
        return len(self.centroids) >= self.max_speakers


@dataclass(frozen=True, slots=True)
class Turn:
    """A stretch of one utterance spoken by one voice (seconds from its start)."""

    start_s: float
    end_s: float
    windows: tuple[int, ...]
    """Indices of the embedding windows that make up the turn."""


def turns(
    windows: Sequence[np.ndarray],
    spans: Sequence[tuple[float, float]],
    threshold: float,
    min_turn_s: float,
) -> list[Turn]:
    """An utterance's windows grouped into turns where the voice changes.

    Binary segmentation: the cut that leaves the two sides least alike (their mean
    prints' similarity) is taken if they are less alike than ``threshold`` and both
    last ``min_turn_s``; each side is then cut the same way. One turn means no change.
    """
    if not windows:
        return []
    cuts = sorted(_cuts(windows, spans, 0, len(windows), threshold, min_turn_s))
    bounds = [0, *cuts, len(windows)]
    # A change lies between the centres of the last window of one voice and the first
    # of the next (windows overlap).
    centre = [(start + end) / 2 for start, end in spans]
    edges = [spans[0][0], *((centre[c - 1] + centre[c]) / 2 for c in cuts), spans[-1][1]]
    return [
        Turn(edges[i], edges[i + 1], tuple(range(bounds[i], bounds[i + 1])))
        for i in range(len(bounds) - 1)
    ]


def _cuts(
    windows: Sequence[np.ndarray],
    spans: Sequence[tuple[float, float]],
    low: int,
    high: int,
    threshold: float,
    min_turn_s: float,
) -> list[int]:
    best, at = threshold, -1
    for cut in range(low + 1, high):
        if spans[cut - 1][1] - spans[low][0] < min_turn_s:
            continue
        if spans[high - 1][1] - spans[cut][0] < min_turn_s:
            break
        left = _unit(np.mean(windows[low:cut], axis=0))
        right = _unit(np.mean(windows[cut:high], axis=0))
        similarity = float(left @ right)
        if similarity < best:
            best, at = similarity, cut
    if at < 0:
        return []
    return [
        *_cuts(windows, spans, low, at, threshold, min_turn_s),
        at,
        *_cuts(windows, spans, at, high, threshold, min_turn_s),
    ]


def cluster_offline(
    embeddings: Sequence[np.ndarray], weights: Sequence[float], threshold: float
) -> list[int]:
    """Speaker indices for a whole file's utterances, numbered in order of appearance.

    Agglomerative clustering with average linkage: the two closest groups (by the
    weighted mean similarity of their members) merge until no pair is at least
    ``threshold`` alike, so a voice is judged against everything it said.
    """
    count = len(embeddings)
    if count == 0:
        return []
    units = np.stack([_unit(e) for e in embeddings])
    similarity = units @ units.T
    weight = np.asarray(weights, dtype=np.float64)
    groups: list[list[int]] = [[i] for i in range(count)]
    while len(groups) > 1:
        best, pair = -2.0, (0, 0)
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                block = similarity[np.ix_(groups[a], groups[b])]
                w = np.outer(weight[groups[a]], weight[groups[b]])
                score = float((block * w).sum() / w.sum())
                if score > best:
                    best, pair = score, (a, b)
        if best < threshold:
            break
        a, b = pair
        groups[a] += groups.pop(b)
    owner = {member: index for index, group in enumerate(groups) for member in group}
    order: dict[int, int] = {}
    return [order.setdefault(owner[i], len(order)) for i in range(count)]
