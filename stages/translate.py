"""``translate.diffusion_gemma``: cleaned captions and translations into many languages.

Sits after the recogniser. Every caption passes straight through, so the source text is
never delayed; for each final caption the stage adds one line per target language (and,
with ``cleanup``, a cleaned source line), all keyed by ``(id, lang)``.

Latency policy:

* **One request in flight.** Finals that arrive meanwhile wait and are packed together
  into the next request (``stages.translate_packing``), so a burst of speech costs one
  canvas, not one request per caption.
* **A deadline.** When a caption has waited ``max_lag_s``, its source text is shown in
  each missing language as a non-final revision; the translation replaces it when it
  arrives.
* **No backlog.** Lines that come back missing are asked once more, then shown
  untranslated; if more than ``max_pending`` captions wait, the oldest are shown
  untranslated at once. A broken or slow backend never holds captions back: it is
  retried with back-off and captions flow untranslated until it answers again.
* **Never waiting for the backend.** It starts in the background (a model may load for
  minutes); each request has one deadline for all its retries; once the input ends,
  translations get ``drain_s``, then what still waits is written untranslated.
* **Drafts.** With the in-process backend every denoising step yields a draft; drafts
  become non-final revisions, so a translation sharpens in place on screen.
* **Partials** (``partials: idle``): when nothing else waits, the settled words of the
  newest partial (its stable prefix, once three more words settle) are translated as a
  non-final line. With a pinned skeleton that translation is kept: the next request
  pins it in the line and the model only goes on from it, up to the final.
* **Pieces.** Finals sent mid-sentence (the low-latency preset) are translated as they
  come, each as the continuation of the pieces before it, whose lines go with the
  request as context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from canvascap.pipeline.channel import Closed, Full, Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Caption, Role
from canvascap.stages.glossary import load_glossary
from canvascap.stages.llm_backend import Completion, LlmBackend, LlmOptions
from canvascap.stages.translate_packing import (
    Earlier,
    Job,
    build_prompt,
    canonical_lang,
    pack,
    parse_lines,
    plausible_length,
    slot_tokens,
)
from canvascap.stages.translate_skeleton import Skeleton, build_skeleton, line_prefix

__all__ = [
    "TranslateOptions",
    "TranslateStage",
    "load_glossary",
    "make_backend",
    "plan_skeleton",
    "read_answer",
]

log = logging.getLogger(__name__)

STARTUP_WAIT_S = 1.0
"""How long session start-up waits for the backend to say a setting cannot work."""


class TranslateOptions(LlmOptions):
    """Options of ``translate.diffusion_gemma``: the backend's, and the stage's own."""

    targets: list[str] = Field(default_factory=list)
    """Languages to translate into, e.g. ``[es, de, ja]``."""
    cleanup: bool = False
    """Also write a cleaned source line (ASR fixes, punctuation, no fillers)."""
    canvas_tokens: int = Field(256, ge=16)
    headroom: float = Field(0.2, ge=0, lt=1)
    """Share of the canvas kept free when packing, for longer-than-expected lines."""
    max_lag_s: float = Field(3.0, gt=0)
    max_pending: int = Field(16, ge=1)
    context_finals: int = Field(3, ge=0)
    partials: Literal["off", "idle"] = "idle"
    glossary: str | None = None
    """YAML file: ``keep: [terms]`` and ``translate: {term: {lang: rendering}}``."""
    drain_s: float = Field(4.0, ge=0)
    """After the input ends, how long translations may still take; then the lines still
    waiting are written untranslated, so the session ends on time."""

    @field_validator("targets", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [canonical_lang(str(part)) for part in value]
        return value


def make_backend(options: LlmOptions, metrics: Metrics | None = None) -> LlmBackend:
    """The backend the options name (imported only when used)."""
    if options.backend == "transformers":
        from canvascap.stages.llm_transformers import TransformersBackend

        return TransformersBackend(options, metrics)
    from canvascap.stages.llm_openai import OpenAIBackend

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


class TranslateStage:
    """Caption in, the same caption plus cleaned and translated lines out."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = Caption
    Options = TranslateOptions

    def __init__(
        self, options: TranslateOptions, ctx: Context, backend: LlmBackend | None = None
    ) -> None:
        self.name = "translate"
        self.options = options
        self.ctx = ctx
        self.backend = backend or make_backend(options, ctx.metrics)
        self.glossary = load_glossary(options.glossary) if options.glossary else None
        self.pending: deque[Job] = deque()
        self._sources: dict[int, Caption] = {}
        self._revs: dict[tuple[int, str], int] = {}
        self._shown: dict[tuple[int, str], str] = {}
        self._finalized: set[tuple[int, str]] = set()
        self._draft_prefix: dict[tuple[int, str], str] = {}
        self._final_at: dict[int, float] = {}
        """When each caption became final here: translation lag runs from then."""
        self._settled: dict[int, str] = {}
        """Per caption, the settled words of a partial whose translation is shown."""
        self._settled_at: dict[int, dict[str, float]] = {}
        """When each settled start of a partial was first seen: the settled lag's start."""
        self._kept: dict[tuple[int, str], str] = {}
        """That translation, per (caption, language): later lines go on from it."""
        # Finals by id, enough to give any request the ones just before its captions.
        self._context: deque[tuple[int, str, int]] = deque(
            maxlen=options.context_finals + options.max_pending + 1
        )
        self._idle_partial: Caption | None = None
        self._retry_at = 0.0
        self._failures = 0
        self._outbox: Sender[Caption] = _NotRunning()
        self._starting: asyncio.Task[None] | None = None
        self._disabled = False

    async def prepare(self) -> None:
        """Start the backend without holding up captions.

        A setting that cannot work fails the session at once when the backend says so
        within a second; a model still loading or a server that does not answer only
        means that captions start untranslated, and requests wait for the backend.
        """
        self._starting = asyncio.create_task(self.backend.start())
        await asyncio.wait({self._starting}, timeout=STARTUP_WAIT_S)
        if not self._starting.done():
            log.info("translation backend still starting; captions flow meanwhile")
            return
        try:
            self._starting.result()
        except UserError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure to reach a server
            log.warning(
                "translation backend not ready (%s); captions flow untranslated until it answers",
                _why(error),
            )
            self._back_off()

    async def aclose(self) -> None:
        """Stop a start still running and close the backend."""
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(BaseException):
                await self._starting
        await self.backend.aclose()

    # -- main loop -------------------------------------------------------------------
    async def run(self, inbox: Receiver[Caption], outbox: Sender[Caption]) -> None:
        """Forward captions at once; keep one packed request in flight."""
        self._outbox = outbox
        items = aiter(inbox)
        reading: asyncio.Task[Caption] | None = asyncio.create_task(_next(items))
        request: asyncio.Task[None] | None = None
        drain_until: float | None = None
        try:
            while reading is not None or request is not None or self.pending:
                if reading is None and drain_until is None:
                    drain_until = self._now_s() + self.options.drain_s
                if drain_until is not None and self._now_s() >= drain_until:
                    await self._end_of_drain(request)
                    break
                waits = {t for t in (reading, request) if t is not None}
                timeout = self._seconds_to_next_event(drain_until)
                if waits:
                    done, _ = await asyncio.wait(
                        waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                else:
                    done = set()
                    await asyncio.sleep(timeout if timeout is not None else 0)
                if reading is not None and reading in done:
                    try:
                        await self._accept(reading.result())
                        reading = asyncio.create_task(_next(items))
                    except StopAsyncIteration:
                        reading = None
                if request is not None and request in done:
                    request.result()
                    request = None
                await self._fire_deadlines()
                if request is None:
                    request = self._start_request()
        finally:
            for task in (reading, request):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    def _seconds_to_next_event(self, drain_until: float | None) -> float | None:
        times = [
            self._sources[job.id].origin_ns / 1e9 + self.options.max_lag_s
            for job in self.pending
            if job.id in self._sources and not job.overdue
        ]
        if self.pending and self._retry_at > self._now_s():
            times.append(self._retry_at)
        if drain_until is not None:
            times.append(drain_until)
        if not times:
            return None
        return max(0.01, min(times) - self._now_s())

    async def _end_of_drain(self, request: asyncio.Task[None] | None) -> None:
        """The input ended ``drain_s`` ago: write what still waits untranslated."""
        if request is not None and not request.done():
            request.cancel()
            with contextlib.suppress(BaseException):
                await request
        if self.pending:
            log.warning(
                "%d caption(s) still untranslated %.0f s after the input ended; "
                "written untranslated",
                len(self.pending),
                self.options.drain_s,
            )
        while self.pending:
            job = self.pending.popleft()
            self.ctx.metrics.count("translate.untranslated_at_end")
            await self._give_up(job, job.langs)

    async def _accept(self, caption: Caption) -> None:
        """Forward the recogniser's caption and queue its translation."""
        options = self.options
        if not caption.final:
            await self._forward(caption, final=False)
            if options.partials == "idle":
                settled = _whole_words(caption.text, caption.stable_chars)
                self._settled_at.setdefault(caption.id, {}).setdefault(settled, self._now_s())
                self._idle_partial = caption
            return
        self._idle_partial = None
        if not caption.text:  # retracted: it was not speech; retract our lines too
            await self._forward(caption, final=True)
            for key in [k for k in self._shown if k[0] == caption.id]:
                await self._emit(key[0], key[1], "", final=True, like=caption)
            return
        self._forget_before(caption.id - 500)
        self._sources[caption.id] = caption
        self._final_at[caption.id] = self._now_s()
        langs = [lang for lang in options.targets if lang != caption.lang]
        if options.cleanup:
            langs.insert(0, caption.lang)
        # With cleanup on, the raw text is only a draft of the source line.
        await self._forward(caption, final=not options.cleanup)
        job = Job(
            caption.id,
            caption.text,
            caption.lang,
            langs,
            utterance=caption.utterance,
            kept=self._kept_for(caption),
        )
        if langs and self._disabled:
            await self._give_up(job, langs)
        elif langs:
            self.pending.append(job)
        while len(self.pending) > options.max_pending:
            oldest = self.pending.popleft()
            self.ctx.metrics.count("translate.skipped_backlog")
            await self._give_up(oldest, oldest.langs)
        self._context.append((caption.id, caption.text, caption.utterance))

    def _kept_for(self, caption: Caption) -> dict[str, str]:
        """The translations already shown for the settled start of this caption, if its
        final text still starts with the words they translate."""
        self._settled_at.pop(caption.id, None)
        settled = self._settled.pop(caption.id, "")
        if not settled or not caption.text.startswith(settled):
            return {}
        return self._kept_lines(caption.id)

    def _kept_lines(self, cid: int) -> dict[str, str]:
        """The kept translations of a caption's settled words, by language."""
        return {lang: text for (c, lang), text in self._kept.items() if c == cid}

    def _settled_job(self, partial: Caption) -> Job | None:
        """A job for the settled words of a partial, when they grew by a few words."""
        langs = [lang for lang in self.options.targets if lang != partial.lang]
        settled = _whole_words(partial.text, partial.stable_chars)
        done = self._settled.get(partial.id, "")
        grown = len(settled.split()) - len(done.split())
        if not langs or len(settled.split()) < SETTLED_WORDS or grown < SETTLED_WORDS:
            return None
        kept = self._kept_lines(partial.id) if done and settled.startswith(done) else {}
        return Job(partial.id, settled, partial.lang, langs, utterance=partial.utterance, kept=kept)

    # -- requests --------------------------------------------------------------------
    def _start_request(self) -> asyncio.Task[None] | None:
        if self._disabled or self._now_s() < self._retry_at:
            return None
        budget = int(self.options.canvas_tokens * (1 - self.options.headroom))
        if self.pending:
            pairs, _ = pack(list(self.pending), self.backend.count_tokens, budget)
            return asyncio.create_task(self._translate(pairs, final=True))
        if self._idle_partial is not None:
            partial, self._idle_partial = self._idle_partial, None
            job = self._settled_job(partial)
            if job is not None:
                pairs = [(job, lang) for lang in job.langs]
                return asyncio.create_task(self._translate(pairs, final=False, partial=partial))
        return None

    async def _translate(
        self, pairs: list[tuple[Job, str]], final: bool, partial: Caption | None = None
    ) -> None:
        first = min(job.id for job, _ in pairs)
        earlier = [
            Earlier(cid, text, utterance, self._lines_of(cid))
            for cid, text, utterance in self._context
            if cid < first
        ]
        context = earlier[len(earlier) - self.options.context_finals :]
        expected = [(job.id, lang) for job, lang in pairs]
        jobs = {job.id: job for job, _ in pairs}
        skeleton: Skeleton | None = None

        def on_draft(text: str) -> None:
            drafts, _ = parse_lines(text, expected)  # drafts are provisional anyway
            for (cid, lang), line in drafts.items():
                if skeleton is None and lang == jobs[cid].lang:
                    continue  # a cut cleaned line must not replace a readable source line
                self._emit_draft(cid, lang, line, partial, confident=True)

        started = self._now_s()
        try:
            await self._started()
            skeleton, pairs = await plan_skeleton(self.backend, pairs)
            expected = [(job.id, lang) for job, lang in pairs]
            prompt = build_prompt(pairs, context, self.glossary)
            completion = await self.backend.complete(
                prompt,
                max_tokens=self.options.canvas_tokens,
                on_draft=on_draft,
                skeleton=skeleton,
            )
        except UserError as error:  # a setting that cannot work, found late
            await self._disable(str(error), jobs.values())
            return
        except Exception as error:  # noqa: BLE001 - a broken backend must not stop captions
            log.warning("translation request failed: %s", _why(error))
            self.ctx.metrics.count("translate.request_errors")
            self._back_off()
            if final:
                await self._missed(jobs, expected)
            return
        self.ctx.metrics.count("translate.requests")
        self.ctx.metrics.count("translate.lines_requested", len(expected))
        log.debug("translated %d lines in %.2f s", len(expected), self._now_s() - started)
        found, missing = read_answer(completion, skeleton, expected)
        for key, line in list(found.items()):
            if not plausible_length(line, jobs[key[0]].text):
                del found[key]
                missing.append(key)
                self.ctx.metrics.count("translate.lines_implausible")
        self.ctx.metrics.count("translate.lines_missing", len(missing))
        if found:
            self._failures = 0
        else:
            # An answer with nothing usable in it is a failure too: asking again at once
            # would only hammer a server that answers with empty text.
            self._back_off()
        for (cid, lang), line in found.items():
            if final:
                if lang not in jobs[cid].langs:
                    continue  # already shown untranslated (the backlog was cut meanwhile)
                jobs[cid].langs.remove(lang)
                await self._emit(cid, lang, line, final=True, like=self._sources.get(cid))
                if cid in self._final_at:
                    lag = self._now_s() - self._final_at[cid]
                    name = "cleanup" if lang == jobs[cid].lang else lang
                    self.ctx.metrics.record(f"translate.lag_s.{name}", lag)
            elif partial is not None:
                # The translation of settled words: pinned, later lines go on from it;
                # in free text it is only a preview, redone as the words grow.
                if completion.pinned:
                    self._settled[cid] = jobs[cid].text
                    self._kept[(cid, lang)] = line
                self._emit_draft(cid, lang, line, partial, confident=completion.pinned)
                settled_at = self._settled_at.get(cid, {}).get(jobs[cid].text)
                if settled_at is not None:
                    lag = self._now_s() - settled_at
                    self.ctx.metrics.record(f"translate.settled_lag_s.{lang}", lag)
        if final:
            await self._missed(jobs, missing)

    def _lines_of(self, cid: int) -> dict[str, str]:
        """The final lines shown for a caption, by language."""
        return {
            lang: self._shown[(c, lang)]
            for c, lang in self._finalized
            if c == cid and lang in self.options.targets and (c, lang) in self._shown
        }

    async def _started(self) -> None:
        """Wait for the backend to be up, starting it again if the last start failed."""
        if self._starting is None or (self._starting.done() and self._starting.exception()):
            self._starting = asyncio.create_task(self.backend.start())
        # A request cancelled at the end of the session must not cancel a model load.
        await asyncio.shield(self._starting)

    async def _disable(self, reason: str, jobs: Iterable[Job]) -> None:
        """Translation cannot work: say so once, and let every line through untranslated."""
        log.error("translation is off: %s", reason)
        self.ctx.metrics.degrade(self.name, f"translation off: {reason}")
        self._disabled = True
        for job in [*jobs, *self.pending]:
            await self._give_up(job, job.langs)
            if job in self.pending:
                self.pending.remove(job)

    async def _missed(self, jobs: dict[int, Job], missing: list[tuple[int, str]]) -> None:
        """Ask once more for missing lines, then show them untranslated."""
        for job in jobs.values():
            lost = [lang for cid, lang in missing if cid == job.id and lang in job.langs]
            if lost:
                job.attempts += 1
                if job.attempts >= 2:
                    await self._give_up(job, lost)
            if not job.langs and job in self.pending:
                self.pending.remove(job)

    async def _give_up(self, job: Job, langs: list[str]) -> None:
        """Show the source text, untranslated, as the final line of each language."""
        for lang in list(langs):
            await self._emit(job.id, lang, job.text, final=True, like=self._sources.get(job.id))
            if lang in job.langs:
                job.langs.remove(lang)
        self.ctx.metrics.count("translate.lines_untranslated", len(langs))
        if not job.langs and job in self.pending:
            self.pending.remove(job)

    async def _fire_deadlines(self) -> None:
        """Past ``max_lag_s``, show the source text in each missing language (non-final)."""
        now_ns = self.ctx.clock.now_ns()
        for job in list(self.pending):
            source = self._sources.get(job.id)
            late = (now_ns - source.origin_ns) / 1e9 if source else 0.0
            if source is None or job.overdue or late < self.options.max_lag_s:
                continue
            job.overdue = True
            self.ctx.metrics.count("translate.deadlines")
            for lang in job.langs:
                if (job.id, lang) not in self._shown and lang != job.lang:
                    await self._emit(job.id, lang, job.text, final=False, like=source)

    def _now_s(self) -> float:
        return self.ctx.clock.now_ns() / 1e9

    def _back_off(self) -> None:
        self._failures += 1
        self._retry_at = self._now_s() + min(8.0, 0.5 * 2 ** (self._failures - 1))

    # -- output ----------------------------------------------------------------------
    async def _forward(self, caption: Caption, final: bool) -> None:
        """Pass a recogniser caption on, keeping its numbering and stable prefix."""
        key = caption.key
        if key in self._finalized:
            return
        rev = max(self._revs.get(key, -1) + 1, caption.rev)
        self._revs[key] = rev
        self._shown[key] = caption.text
        if final:
            self._finalized.add(key)
        await self._outbox.send(replace(caption, rev=rev, final=final))

    def _forget_before(self, oldest_id: int) -> None:
        """Bound the per-line bookkeeping of a long session."""
        for table in (self._revs, self._shown, self._draft_prefix):
            for key in [k for k in table if k[0] < oldest_id]:
                del table[key]
        self._finalized = {k for k in self._finalized if k[0] >= oldest_id}
        for cid in [c for c in self._sources if c < oldest_id]:
            del self._sources[cid]
            self._final_at.pop(cid, None)
        for key in [k for k in self._kept if k[0] < oldest_id]:
            del self._kept[key]
        for cid in [c for c in self._settled_at if c < oldest_id]:
            self._settled_at.pop(cid)
            self._settled.pop(cid, None)

    async def _emit(
        self, cid: int, lang: str, text: str, final: bool, like: Caption | None
    ) -> None:
        caption = self._revision(cid, lang, text, final, like)
        if caption is not None:
            await self._outbox.send(caption)

    def _emit_draft(
        self, cid: int, lang: str, text: str, like: Caption | None, confident: bool = False
    ) -> None:
        """Drafts are expendable: dropped rather than waited for.

        A ``confident`` draft holds only tokens the model is sure of, so all of it is
        stable; a later draft that does not extend it is not shown (a shown prefix
        never goes back), and the final line settles it either way.
        """
        key = (cid, lang)
        stable = 0
        if confident:
            if not text.startswith(self._draft_prefix.get(key, "")):
                return
            self._draft_prefix[key] = text
            stable = len(text)
        source = like or self._sources.get(cid)
        caption = self._revision(cid, lang, text, False, source, stable)
        if caption is None:
            return
        with contextlib.suppress(Full, Closed):
            self._outbox.send_nowait(caption)

    def _revision(
        self,
        cid: int,
        lang: str,
        text: str,
        final: bool,
        like: Caption | None,
        stable_chars: int = 0,
    ) -> Caption | None:
        key = (cid, lang)
        if key in self._finalized or (not final and self._shown.get(key) == text):
            return None
        source = like or self._sources.get(cid)
        if source is None:
            return None
        rev = self._revs.get(key, -1) + 1
        self._revs[key] = rev
        self._shown[key] = text
        if final:
            self._finalized.add(key)
            self._draft_prefix.pop(key, None)
        return replace(
            source,
            rev=rev,
            final=final,
            text=text,
            lang=lang,
            source=source.source,
            stable_chars=len(text) if final else stable_chars,
            words=source.words if lang == source.lang else (),
            # A translated piece is whole words; only the spoken text can run on.
            continues_word=source.continues_word and lang == source.lang,
            role=Role.CLEANED if lang == source.lang else Role.TRANSLATION,
        )


async def _next(items: AsyncIterator[Caption]) -> Caption:
    """The next caption (a coroutine, so it can run as a task)."""
    return await anext(items)


SETTLED_WORDS = 3
"""A partial's settled words are translated once there are this many new ones."""


def _whole_words(text: str, stable_chars: int) -> str:
    """The settled start of a partial, cut back to whole words."""
    settled = text[:stable_chars]
    if stable_chars < len(text) and not text[stable_chars].isspace():
        settled = settled.rsplit(" ", 1)[0] if " " in settled else ""
    return settled.strip()


def _why(error: BaseException) -> str:
    """A failure's reason, never empty (some exceptions carry no message)."""
    return str(error) or type(error).__name__


class _NotRunning:
    """The outbox before ``run()`` starts: nothing may be sent yet."""

    async def send(self, item: Any) -> None:
        raise RuntimeError("the translate stage is not running")

    def send_nowait(self, item: Any) -> None:
        raise RuntimeError("the translate stage is not running")

    def close(self) -> None:
        return None
