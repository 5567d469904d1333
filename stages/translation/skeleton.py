"""A pinned line skeleton for one DiffusionGemma canvas.

DiffusionGemma writes every canvas position at once, so the line format need not be
hoped for: each (caption, language) gets a slot whose ``id|lang|`` prefix and closing
newline are held at their seed value on every denoising step, and only the positions
in between are the model's to write. Reading the answer is then a matter of position:
a line can be left empty (missing) but never mislabelled. vLLM takes the skeleton as
``vllm_xargs.diffusion_seed_canvas`` and ``diffusion_pinned``; in process, the same
positions are held by a logits processor.

This module is pure: it sees token ids and a ``decode`` function, never a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Skeleton", "Slot", "Vocabulary", "build_skeleton", "line_prefix", "split_lines"]

Key = tuple[int, str]


def line_prefix(cid: int, lang: str) -> str:
    """The pinned start of a line; the model writes a space and the text after it."""
    return f"{cid}|{lang}|"


@dataclass(frozen=True)
class Vocabulary:
    """The token ids a skeleton is built from."""

    newline: int
    filler: int
    """Seed value of the positions the model writes (they are re-noised anyway)."""
    end: int | None = None
    """End-of-turn id pinned after the last line, where the tokenizer has one."""
    stops: frozenset[int] = frozenset()
    """Ids that end a line's text: padding and end-of-turn markers."""


@dataclass(frozen=True)
class Slot:
    """One (caption, language) line: pinned prefix, ``size`` free positions, newline."""

    key: Key
    start: int
    """Canvas position of the first free token."""
    size: int
    whole_only: bool = False
    """A cleaned source line: drafts show it only once all of it is confident, so the
    viewer keeps reading the recogniser's text until then."""

    @property
    def prefix(self) -> str:
        return line_prefix(*self.key)


@dataclass(frozen=True)
class Skeleton:
    """The seed canvas, its pinned positions and the slots they frame."""

    seed: tuple[int, ...]
    pinned: tuple[int, ...]
    slots: tuple[Slot, ...]
    vocabulary: Vocabulary

    @property
    def keys(self) -> list[Key]:
        return [slot.key for slot in self.slots]

    def labels_held(self, text: str) -> bool:
        """Whether every pinned ``id|lang|`` label came back where it was pinned: at the
        start of its line, in order. A server that ignored the seed canvas writes
        whatever it likes, so its answer must not be read by position."""
        cursor = 0
        for index, slot in enumerate(self.slots):
            marker = slot.prefix if index == 0 else "\n" + slot.prefix
            at = text.find(marker, cursor)
            if at < 0 or (index == 0 and text[:at].strip()):
                return False
            cursor = at + len(marker)
        return True

    def read(self, text: str) -> tuple[dict[Key, str], list[Key]]:
        """Each slot's line from the decoded canvas, found by its pinned frame in order.

        Every slot after the first starts right after a pinned newline, so it is found
        as newline-and-label after the slot before it: text the model writes inside a
        slot cannot pass for a later label. A slot the model left empty, or that a cut
        canvas lost, is missing; only the first line of a slot counts.
        """
        found: dict[Key, str] = {}
        missing: list[Key] = []
        starts: list[int] = []
        cursor = 0
        for index, slot in enumerate(self.slots):
            marker = slot.prefix if index == 0 else "\n" + slot.prefix
            at = text.find(marker, cursor)
            starts.append(at + len(marker) - len(slot.prefix) if at >= 0 else -1)
            if at >= 0:
                cursor = at + len(marker)
        for index, slot in enumerate(self.slots):
            at = starts[index]
            later = [s for s in starts[index + 1 :] if s >= 0]
            end = later[0] if later else len(text)
            line = text[at + len(slot.prefix) : end].strip() if at >= 0 else ""
            line = line.split("\n")[0].strip()
            if line:
                found[slot.key] = line
            else:
                missing.append(slot.key)
        return found, missing

    def draft(
        self,
        ids: Sequence[int],
        confidence: Sequence[float],
        threshold: float,
        decode: Callable[[list[int]], str],
    ) -> str:
        """The canvas as a viewer may see it mid-denoising: each slot cut at its first
        unconfident token, and a ``whole_only`` slot left out until it is complete."""
        lines = []
        for slot, kept in self.shown(ids, confidence, threshold):
            text = decode([ids[position] for position in kept]).strip()
            if text:
                lines.append(f"{slot.prefix} {text}")
        return "\n".join(lines)

    def shown(
        self, ids: Sequence[int], confidence: Sequence[float], threshold: float
    ) -> list[tuple[Slot, list[int]]]:
        """Per slot a draft shows, the canvas positions of the tokens it shows: the
        confident start of the slot (a ``whole_only`` slot only once all confident)."""
        shown = []
        for slot in self.slots:
            kept: list[int] = []
            complete = True
            for position in range(slot.start, slot.start + slot.size):
                if confidence[position] < threshold:
                    complete = False
                    break
                token = ids[position]
                if token in self.vocabulary.stops or token == self.vocabulary.newline:
                    break  # the model ended the line here, and is sure of it
                kept.append(position)
            if kept and (complete or not slot.whole_only):
                shown.append((slot, kept))
        return shown


def split_lines(ids: Sequence[int], newline: int, count: int) -> list[list[int]] | None:
    """Token ids of ``count`` newline-ended lines, or None if they do not split so."""
    lines: list[list[int]] = [[]]
    for token in ids:
        if token == newline:
            lines.append([])
        else:
            lines[-1].append(token)
    lines = lines[:-1] if not lines[-1] else lines
    if len(lines) != count or not all(lines):
        return None
    return lines


def build_skeleton(
    keys: Sequence[Key],
    prefix_ids: Sequence[Sequence[int]],
    sizes: Sequence[int],
    vocabulary: Vocabulary,
    canvas_length: int,
    whole_only: Sequence[bool] = (),
    kept_ids: Sequence[Sequence[int]] = (),
) -> Skeleton:
    """Lay the slots out in order; slots that would run past the canvas are left out
    (their captions wait for the next request). ``kept_ids`` are a line's words already
    shown: pinned after its label, so the model can only go on from them."""
    seed = [vocabulary.filler] * canvas_length
    pinned: list[int] = []
    slots: list[Slot] = []
    position = 0
    tail = 1 if vocabulary.end is not None else 0
    for index, (key, label, size) in enumerate(zip(keys, prefix_ids, sizes, strict=True)):
        kept = kept_ids[index] if index < len(kept_ids) else ()
        prefix = [*label, *kept]
        if position + len(prefix) + size + 1 + tail > canvas_length:
            break
        for token in prefix:
            seed[position] = token
            pinned.append(position)
            position += 1
        whole = whole_only[index] if index < len(whole_only) else False
        slots.append(Slot(key, position, size, whole))
        position += size
        seed[position] = vocabulary.newline
        pinned.append(position)
        position += 1
    if vocabulary.end is not None and slots:
        seed[position] = vocabulary.end
        pinned.append(position)
    return Skeleton(tuple(seed), tuple(pinned), tuple(slots), vocabulary)
