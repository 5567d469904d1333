"""One translation request, as the translate stage sends it: the skeleton, the prompt,
the backend's answer read back into lines.

``plan_skeleton`` pins every ``id|lang|`` label where the backend can hold a skeleton
(in process, or a vLLM server that takes seed canvases); ``ask`` sends the packed
prompt, shows drafts as they come, and reads the answer by pinned position or, in free
text, by its labels, keeping only lines of a plausible length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from canvascap.pipeline.metrics import Metrics
from canvascap.stages.glossary import Glossary
from canvascap.stages.translation.engines.backend import Completion, LlmBackend, LlmOptions
from canvascap.stages.translation.packing import (
    Earlier,
    Job,
    build_prompt,
    parse_lines,
    plausible_length,
    slot_tokens,
)
from canvascap.stages.translation.skeleton import Skeleton, build_skeleton, line_prefix

__all__ = ["Answer", "ask", "make_backend", "plan_skeleton", "read_answer"]

Key = tuple[int, str]
ShowDraft = Callable[[int, str, str], None]
"""Called with ``(caption id, language, text)`` for each line of a draft worth showing."""


@dataclass(frozen=True)
class Answer:
    """What came back for a request."""

    found: dict[Key, str]
    """Lines of a plausible length, by ``(id, lang)``."""
    missing: list[Key]
    """Lines asked for (and held by the skeleton) that did not come back usable."""
    pinned: bool
    """Whether the backend held the pinned skeleton."""


def make_backend(options: LlmOptions, metrics: Metrics | None = None) -> LlmBackend:
    """The backend the options name (imported only when used)."""
    if options.backend == "transformers":
        from canvascap.stages.translation.engines.in_process import TransformersBackend

        return TransformersBackend(options, metrics)
    from canvascap.stages.translation.engines.openai_server import OpenAIBackend

    return OpenAIBackend(options, metrics)


async def plan_skeleton(
    backend: LlmBackend, pairs: list[tuple[Job, str]]
) -> tuple[Skeleton | None, list[tuple[Job, str]]]:
    """The pinned skeleton for these pairs, and the pairs it holds (those that did not
    fit wait for the next request). No skeleton where the backend cannot hold one."""
    keys = [(job.id, lang) for job, lang in pairs]
    texts = [_one_line(job.text) for job, _ in pairs]
    kept = [_one_line(job.kept.get(lang, "")) for job, lang in pairs]
    lines = [line_prefix(*key) for key in keys] + texts + [" " + k for k in kept if k]
    tokens = await backend.skeleton_tokens(lines)
    if tokens is None:
        return None, pairs
    ids, vocabulary = tokens
    rest = iter(ids[2 * len(keys) :])
    kept_ids = [next(rest) if k else [] for k in kept]
    sizes = [
        max(4, slot_tokens(len(source), lang, job.lang) - len(held))
        for (job, lang), source, held in zip(pairs, ids[len(keys) :], kept_ids, strict=False)
    ]
    skeleton = build_skeleton(
        keys,
        ids[: len(keys)],
        sizes,
        vocabulary,
        backend.canvas_length,
        whole_only=[lang == job.lang for job, lang in pairs],
        kept_ids=kept_ids,
    )
    return skeleton, pairs[: len(skeleton.slots)]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def read_answer(
    completion: Completion, skeleton: Skeleton | None, expected: list[tuple[int, str]]
) -> tuple[dict[tuple[int, str], str], list[tuple[int, str]]]:
    """Lines by pinned position where the backend held the skeleton, else parsed."""
    if skeleton is not None and completion.pinned:
        return skeleton.read(completion.text)
    return parse_lines(completion.text, expected, completion.truncated)


async def ask(
    backend: LlmBackend,
    pairs: list[tuple[Job, str]],
    context: list[Earlier],
    glossary: Glossary | None,
    max_tokens: int,
    show_draft: ShowDraft,
    metrics: Metrics,
) -> Answer:
    """Send one packed request and read its answer; drafts go to ``show_draft``."""
    jobs = {job.id: job for job, _ in pairs}
    skeleton: Skeleton | None = None
    expected = [(job.id, lang) for job, lang in pairs]

    def on_draft(text: str) -> None:
        drafts, _ = parse_lines(text, expected)  # drafts are provisional anyway
        for (cid, lang), line in drafts.items():
            if skeleton is None and lang == jobs[cid].lang:
                continue  # a cut cleaned line must not replace a readable source line
            show_draft(cid, lang, line)

    skeleton, pairs = await plan_skeleton(backend, pairs)
    expected = [(job.id, lang) for job, lang in pairs]
    completion = await backend.complete(
        build_prompt(pairs, context, glossary),
        max_tokens=max_tokens,
        on_draft=on_draft,
        skeleton=skeleton,
    )
    metrics.count("translate.requests")
    metrics.count("translate.lines_requested", len(expected))
    found, missing = read_answer(completion, skeleton, expected)
    for key, line in list(found.items()):
        if not plausible_length(line, jobs[key[0]].text):
            del found[key]
            missing.append(key)
            metrics.count("translate.lines_implausible")
    metrics.count("translate.lines_missing", len(missing))
    return Answer(found, missing, completion.pinned)
