"""``translate.captions``: cleaned captions and translations into many languages.

(``translate.diffusion_gemma`` is the same stage under its earlier name.) Sits after the
recogniser. Every caption passes straight through, so the source text is never delayed;
for each final caption the stage adds one line per target language (and, with
``cleanup``, a cleaned source line), all keyed by ``(id, lang)``.

The policy lives apart, pure: which request goes next, deadlines and back-off in
``planner.RequestPlanner``; what each line shows and which revision a decision makes in
``book.LineBook``. This module is the shell: its wait loop, and the calls to the backend.

* **A deadline.** When a caption has waited ``max_lag_s``, its source text is shown in
  each missing language as a non-final revision; the translation replaces it when it
  arrives. A broken or slow backend never holds captions back: captions flow
  untranslated until it answers again.
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
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, ClassVar

from canvascap.pipeline.channel import Closed, Full, Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.tasks import cancel_and_wait
from canvascap.pipeline.types import Caption
from canvascap.stages.glossary import load_glossary
from canvascap.stages.translation.asking import make_backend, plan_skeleton, read_answer
from canvascap.stages.translation.book import LineBook
from canvascap.stages.translation.engine import Engine, LlmEngine, make_engine
from canvascap.stages.translation.engines.backend import LlmBackend
from canvascap.stages.translation.options import TranslateOptions
from canvascap.stages.translation.outage import Outage
from canvascap.stages.translation.packing import Job
from canvascap.stages.translation.planner import PlannerSettings, Request, RequestPlanner

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
        self.glossary = load_glossary(options.glossary) if options.glossary else None
        if backend is not None:
            self.engine: Engine = LlmEngine(
                backend, self.glossary, options.canvas_tokens, ctx.metrics
            )
        else:
            self.engine = make_engine(options, ctx.metrics, self.glossary)
        self.book = LineBook(options.targets, options.context_finals + options.max_pending + 1)
        settings = PlannerSettings(
            max_lag_s=options.max_lag_s,
            max_pending=options.max_pending,
            budget_tokens=int(options.canvas_tokens * (1 - options.headroom)),
            partials=options.partials == "idle",
        )
        self.planner = RequestPlanner(settings, self.engine.count_tokens)
        self._outbox: Sender[Caption] = _NotRunning()
        self._starting: asyncio.Task[None] | None = None
        self.outage = Outage(self.name, ctx.metrics)

    @property
    def pending(self) -> list[Job]:
        """Finals waiting for their lines, oldest first."""
        return list(self.planner.pending)

    async def prepare(self) -> None:
        """Start the backend without holding up captions.

        A setting that cannot work fails the session at once when the backend says so
        within a second; a model still loading or a server that does not answer only
        means that captions start untranslated, and requests wait for the backend.
        """
        self._starting = asyncio.create_task(self.engine.start())
        await asyncio.wait({self._starting}, timeout=STARTUP_WAIT_S)
        if not self._starting.done():
            log.info("translation backend still starting; captions flow meanwhile")
            return
        try:
            self._starting.result()
        except UserError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure to reach a server
            self._failing(f"not ready: {_why(error)}")
            self.planner.failed(self._now_s())

    async def aclose(self) -> None:
        """Stop a start still running and close the backend."""
        await cancel_and_wait(self._starting)
        await self.engine.aclose()

    # -- the wait loop ---------------------------------------------------------------
    async def run(self, inbox: Receiver[Caption], outbox: Sender[Caption]) -> None:
        """Forward captions at once; keep one packed request in flight."""
        self._outbox = outbox
        items = aiter(inbox)
        reading: asyncio.Task[Caption] | None = asyncio.create_task(_next(items))
        request: asyncio.Task[None] | None = None
        drain_until: float | None = None
        try:
            while reading is not None or request is not None or self.planner.pending:
                now = self._now_s()
                if reading is None and drain_until is None:
                    drain_until = now + self.options.drain_s
                if drain_until is not None and now >= drain_until:
                    await cancel_and_wait(request)
                    await self._end_of_drain()
                    break
                timeout = self.planner.seconds_to_next_event(now, drain_until)
                done = await _first_done({reading, request}, timeout)
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
            await cancel_and_wait(reading, request)

    async def _end_of_drain(self) -> None:
        """The input ended ``drain_s`` ago: write what still waits untranslated."""
        jobs = self.planner.take_all()
        if jobs:
            log.warning(
                "%d caption(s) still untranslated %.0f s after the input ended; "
                "written untranslated",
                len(jobs),
                self.options.drain_s,
            )
        for job in jobs:
            self.ctx.metrics.count("translate.untranslated_at_end")
            await self._give_up(job, job.langs)

    async def _accept(self, caption: Caption) -> None:
        """Forward the recogniser's caption and queue its translation."""
        if not caption.final:
            await self._forward(caption, final=False)
            if self.options.partials == "idle":
                self.book.note_partial(caption, self._now_s())
                self.planner.offer_partial(caption)
            return
        self.planner.drop_partial()
        if not caption.text:  # retracted: it was not speech; retract our lines too
            await self._forward(caption, final=True)
            for lang in self.book.shown_langs(caption.id):
                await self._emit(caption.id, lang, "", final=True, like=caption)
            return
        self.book.add_final(caption, self._now_s())
        langs = [lang for lang in self.options.targets if lang != caption.lang]
        if self.options.cleanup:
            langs.insert(0, caption.lang)
        # With cleanup on, the raw text is only a draft of the source line.
        await self._forward(caption, final=not self.options.cleanup)
        job = Job(
            caption.id,
            caption.text,
            caption.lang,
            langs,
            utterance=caption.utterance,
            kept=self.book.kept_for(caption),
        )
        if langs and self.planner.disabled:
            await self._give_up(job, langs)
        elif langs:
            for oldest in self.planner.add(job, caption.origin_ns / 1e9):
                self.ctx.metrics.count("translate.skipped_backlog")
                await self._give_up(oldest, oldest.langs)

    async def _fire_deadlines(self) -> None:
        """Past ``max_lag_s``, show the source text in each missing language (non-final)."""
        for job in self.planner.overdue(self._now_s()):
            self.ctx.metrics.count("translate.deadlines")
            source = self.book.source(job.id)
            for lang in job.langs:
                if not self.book.is_shown(job.id, lang) and lang != job.lang:
                    await self._emit(job.id, lang, job.text, False, source, stand_in=True)

    # -- requests --------------------------------------------------------------------
    def _start_request(self) -> asyncio.Task[None] | None:
        planned = self.planner.next_request(self._now_s(), self.book.settled_job)
        return None if planned is None else asyncio.create_task(self._translate(planned))

    async def _translate(self, request: Request) -> None:
        """Send one request and show what comes back."""
        jobs = {job.id: job for job, _ in request.pairs}
        first = min(job.id for job, _ in request.pairs)
        try:
            await self._started()
            answer = await self.engine.translate(
                request.pairs,
                self.book.earlier(first, self.options.context_finals),
                lambda cid, lang, line: self._emit_draft(
                    cid, lang, line, request.partial, self.engine.drafts_hold
                ),
            )
        except UserError as error:  # a setting that cannot work, found late
            await self._disable(str(error), jobs.values())
            return
        except Exception as error:  # noqa: BLE001 - a broken backend must not stop captions
            self.ctx.metrics.count("translate.request_errors")
            self._failing(_why(error))
            self.planner.failed(self._now_s())
            if request.final:
                expected = [(job.id, lang) for job, lang in request.pairs]
                await self._missed(list(jobs.values()), expected)
            return
        found = answer.found
        if found:
            self.planner.answered()
            if (recovered := self.outage.answered()) is not None:
                log.warning(recovered)
        else:
            # An answer with nothing usable in it is a failure too: asking again at once
            # would only hammer a server that answers with empty text.
            self.planner.failed(self._now_s())
        if request.final:
            await self._show_finals(jobs, found)
            await self._missed(list(jobs.values()), answer.missing)
        elif request.partial is not None:
            self._show_settled(jobs, found, request.partial, answer.pinned)

    async def _show_finals(self, jobs: dict[int, Job], found: dict[tuple[int, str], str]) -> None:
        for (cid, lang), line in found.items():
            if lang not in jobs[cid].langs:
                continue  # already shown untranslated (the backlog was cut meanwhile)
            jobs[cid].langs.remove(lang)
            await self._emit(cid, lang, line, final=True, like=self.book.source(cid))
            lag = self.book.lag_since_final(cid, self._now_s())
            if lag is not None:
                name = "cleanup" if lang == jobs[cid].lang else lang
                self.ctx.metrics.record(f"translate.lag_s.{name}", lag)

    def _show_settled(
        self,
        jobs: dict[int, Job],
        found: dict[tuple[int, str], str],
        partial: Caption,
        pinned: bool,
    ) -> None:
        """The translation of settled words: pinned, later lines go on from it; in free
        text it is only a preview, redone as the words grow."""
        for (cid, lang), line in found.items():
            settled = jobs[cid].text
            if pinned:
                self.book.keep(cid, settled, lang, line)
            self._emit_draft(cid, lang, line, partial, confident=pinned)
            lag = self.book.settled_lag(cid, settled, self._now_s())
            if lag is not None:
                self.ctx.metrics.record(f"translate.settled_lag_s.{lang}", lag)

    def _failing(self, why: str) -> None:
        warning = self.outage.failed(why)
        if warning is not None:
            log.warning(warning)

    async def _started(self) -> None:
        """Wait for the backend to be up, starting it again if the last start failed."""
        if self._starting is None or (self._starting.done() and self._starting.exception()):
            self._starting = asyncio.create_task(self.engine.start())
        # A request cancelled at the end of the session must not cancel a model load.
        await asyncio.shield(self._starting)

    async def _disable(self, reason: str, jobs: Iterable[Job]) -> None:
        """Translation cannot work: say so once, and let every line through untranslated."""
        log.error("translation is off: %s", reason)
        self.ctx.metrics.degrade(self.name, f"translation off: {reason}")
        for job in [*jobs, *self.planner.disable()]:
            await self._give_up(job, job.langs)

    async def _missed(self, jobs: list[Job], missing: list[tuple[int, str]]) -> None:
        """Ask once more for missing lines, then show them untranslated."""
        for job, lost in self.planner.missed(jobs, missing):
            await self._give_up(job, lost)

    async def _give_up(self, job: Job, langs: list[str]) -> None:
        """Show the source text, untranslated, as the final line of each language."""
        for lang in list(langs):
            source = self.book.source(job.id)
            await self._emit(job.id, lang, job.text, True, source, stand_in=lang != job.lang)
            if lang in job.langs:
                job.langs.remove(lang)
        self.ctx.metrics.count("translate.lines_untranslated", len(langs))
        self.planner.finished(job)

    def _now_s(self) -> float:
        return self.ctx.clock.now_ns() / 1e9

    # -- output ----------------------------------------------------------------------
    async def _forward(self, caption: Caption, final: bool) -> None:
        """Pass a recogniser caption on, keeping its numbering and stable prefix."""
        forwarded = self.book.forward(caption, final)
        if forwarded is not None:
            await self._outbox.send(forwarded)

    async def _emit(
        self,
        cid: int,
        lang: str,
        text: str,
        final: bool,
        like: Caption | None,
        stand_in: bool = False,
    ) -> None:
        caption = self.book.revision(cid, lang, text, final, like, stand_in=stand_in)
        if caption is None:
            return
        if caption.text != text:
            self.ctx.metrics.count("translate.stable_kept")
        await self._outbox.send(caption)

    def _emit_draft(
        self, cid: int, lang: str, text: str, like: Caption | None, confident: bool = False
    ) -> None:
        """Drafts are expendable: dropped rather than waited for."""
        caption = self.book.draft(cid, lang, text, like, confident)
        if caption is None:
            return
        try:
            self._outbox.send_nowait(caption)
        except (Full, Closed):
            self.ctx.metrics.count("translate.drafts_dropped")


async def _next(items: AsyncIterator[Caption]) -> Caption:
    """The next caption (a coroutine, so it can run as a task)."""
    return await anext(items)


async def _first_done(
    tasks: set[asyncio.Task[Any] | None], at_most_s: float | None
) -> set[asyncio.Task[Any]]:
    """The tasks done after waiting for the first of them, at most ``at_most_s``."""
    waits = {task for task in tasks if task is not None}
    if not waits:
        await asyncio.sleep(at_most_s if at_most_s is not None else 0)
        return set()
    done, _ = await asyncio.wait(waits, timeout=at_most_s, return_when=asyncio.FIRST_COMPLETED)
    return done


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
