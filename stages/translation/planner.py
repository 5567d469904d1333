"""Which translation request to send next, and when: the translate stage's policy.

* **One request in flight.** Finals that arrive meanwhile wait and are packed together
  into the next request (``packing.pack``), so a burst of speech costs one canvas.
* **Deadlines.** A caption that has waited ``max_lag_s`` since it was heard is overdue:
  the stage shows its source text in each missing language until the translation comes.
* **No backlog.** More than ``max_pending`` captions waiting: the oldest are given up
  (shown untranslated) at once. Lines that come back missing are asked once more, then
  given up.
* **Back-off.** A failed request, or an answer with nothing usable in it, holds the next
  request back 0.5 s, doubling to 8 s; the first good answer resets it. (Retries of one
  request inside its deadline belong to the backend, ``engines.backend``.)
* **Partials** (``partials: idle``): when no final waits, the newest partial's settled
  words are asked for.

Pure: every method takes the time (seconds on the session's clock) as an argument, so
it is tested without asyncio; the stage keeps only its wait loop and the calls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from canvascap.pipeline.types import Caption
from canvascap.stages.translation.packing import Job, pack

__all__ = ["PlannerSettings", "Request", "RequestPlanner"]

MAX_BACK_OFF_S = 8.0
FIRST_BACK_OFF_S = 0.5
ATTEMPTS_PER_LINE = 2
"""A line missing from this many answers is shown untranslated."""


@dataclass(frozen=True)
class PlannerSettings:
    """The options the planner follows (from ``TranslateOptions``)."""

    max_lag_s: float
    max_pending: int
    budget_tokens: int
    """Canvas tokens a request may fill (the canvas less its headroom)."""
    partials: bool


@dataclass
class Request:
    """One request to send: the lines it asks for, and whether they are finals."""

    pairs: list[tuple[Job, str]]
    final: bool
    partial: Caption | None = None
    """For the settled words of a partial: the partial they come from."""


class RequestPlanner:
    """What waits for translation, what to ask next, and when anything is due."""

    def __init__(self, settings: PlannerSettings, count_tokens: Callable[[str], int]) -> None:
        self.settings = settings
        self.count_tokens = count_tokens
        self.pending: deque[Job] = deque()
        self._due: dict[int, float] = {}
        """Per caption id, when it becomes overdue."""
        self._idle_partial: Caption | None = None
        self.retry_at = 0.0
        self.failures = 0
        self.disabled = False

    # -- what waits ------------------------------------------------------------------
    def add(self, job: Job, heard_s: float) -> list[Job]:
        """Queue a final heard at ``heard_s``; the oldest jobs past ``max_pending``,
        taken off the queue, which the stage gives up."""
        self._idle_partial = None
        self.pending.append(job)
        self._due[job.id] = heard_s + self.settings.max_lag_s
        cut: list[Job] = []
        while len(self.pending) > self.settings.max_pending:
            cut.append(self._take(self.pending[0]))
        return cut

    def offer_partial(self, partial: Caption) -> None:
        """The newest partial: its settled words may be asked for when nothing waits."""
        if self.settings.partials:
            self._idle_partial = partial

    def drop_partial(self) -> None:
        """A final replaces the partial: its settled words are not asked for."""
        self._idle_partial = None

    def finished(self, job: Job) -> None:
        """Take ``job`` off the queue once no language waits."""
        if not job.langs and job in self.pending:
            self._take(job)

    def take_all(self) -> list[Job]:
        """Every job still waiting (the end of the session, translation off)."""
        jobs = list(self.pending)
        for job in jobs:
            self._take(job)
        return jobs

    def _take(self, job: Job) -> Job:
        self.pending.remove(job)
        self._due.pop(job.id, None)
        return job

    # -- when ------------------------------------------------------------------------
    def overdue(self, now_s: float) -> list[Job]:
        """Jobs that became overdue by ``now_s`` (each is returned once)."""
        late = [
            job
            for job in self.pending
            if not job.overdue and job.id in self._due and now_s >= self._due[job.id]
        ]
        for job in late:
            job.overdue = True
        return late

    def seconds_to_next_event(self, now_s: float, drain_until: float | None) -> float | None:
        """How long the stage may wait for input before something is due here
        (``None``: nothing is, only input or an answer can change anything)."""
        times = [
            self._due[job.id] for job in self.pending if not job.overdue and job.id in self._due
        ]
        if self.pending and self.retry_at > now_s:
            times.append(self.retry_at)
        if drain_until is not None:
            times.append(drain_until)
        if not times:
            return None
        return max(0.01, min(times) - now_s)

    # -- what to ask -----------------------------------------------------------------
    def next_request(
        self, now_s: float, settled_job: Callable[[Caption], Job | None]
    ) -> Request | None:
        """The request to send now, if any: waiting finals packed into one canvas, else
        the settled words of the newest partial (``settled_job`` says which)."""
        if self.disabled or now_s < self.retry_at:
            return None
        if self.pending:
            pairs, _ = pack(list(self.pending), self.count_tokens, self.settings.budget_tokens)
            return Request(pairs, final=True)
        if self._idle_partial is not None:
            partial, self._idle_partial = self._idle_partial, None
            job = settled_job(partial)
            if job is not None:
                return Request([(job, lang) for lang in job.langs], final=False, partial=partial)
        return None

    # -- how it went -----------------------------------------------------------------
    def failed(self, now_s: float) -> None:
        """A request failed, or came back with nothing usable: hold the next one back."""
        self.failures += 1
        delay = FIRST_BACK_OFF_S * 2 ** (self.failures - 1)
        self.retry_at = now_s + min(MAX_BACK_OFF_S, delay)

    def answered(self) -> None:
        """A request came back with lines: no more back-off."""
        self.failures = 0

    def missed(
        self, jobs: list[Job], missing: list[tuple[int, str]]
    ) -> list[tuple[Job, list[str]]]:
        """Lines missing from an answer: asked once more, then given up. Returns, per
        job, the languages to give up now."""
        give_up: list[tuple[Job, list[str]]] = []
        for job in jobs:
            lost = [lang for cid, lang in missing if cid == job.id and lang in job.langs]
            if lost:
                job.attempts += 1
                if job.attempts >= ATTEMPTS_PER_LINE:
                    give_up.append((job, lost))
            self.finished(job)
        return give_up

    def disable(self) -> list[Job]:
        """Translation cannot work: nothing is asked again; every waiting job, to give up."""
        self.disabled = True
        return self.take_all()
