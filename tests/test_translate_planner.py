"""Which translation request goes next, and when: the planner, with time as an argument."""

from __future__ import annotations

from canvascap.pipeline.types import Caption
from canvascap.stages.translation.packing import Job
from canvascap.stages.translation.planner import PlannerSettings, RequestPlanner


def planner(max_pending: int = 16, budget: int = 200, partials: bool = True) -> RequestPlanner:
    settings = PlannerSettings(
        max_lag_s=3.0, max_pending=max_pending, budget_tokens=budget, partials=partials
    )
    return RequestPlanner(settings, count_tokens=lambda text: len(text.split()))


def job(cid: int, langs: tuple[str, ...] = ("es", "de")) -> Job:
    return Job(cid, f"caption number {cid} is here", "en", list(langs))


def partial(cid: int) -> Caption:
    text = "one two three four five"
    return Caption(cid, 0, False, text, text, "en", 0.0, 1.0, 0, len(text))


def test_finals_that_wait_go_out_packed_in_one_request() -> None:
    plan = planner()
    for cid in range(3):
        assert plan.add(job(cid), heard_s=0.0) == []
    request = plan.next_request(0.0, lambda p: None)
    assert request is not None and request.final
    assert {(j.id, lang) for j, lang in request.pairs} == {
        (cid, lang) for cid in range(3) for lang in ("es", "de")
    }


def test_a_backlog_past_max_pending_gives_up_the_oldest_at_once() -> None:
    plan = planner(max_pending=2)
    plan.add(job(0), 0.0)
    plan.add(job(1), 0.0)
    cut = plan.add(job(2), 0.0)
    assert [j.id for j in cut] == [0]
    assert [j.id for j in plan.pending] == [1, 2]


def test_a_caption_is_overdue_once_at_its_deadline_and_the_wait_says_when() -> None:
    plan = planner()
    plan.add(job(0), heard_s=10.0)
    assert plan.seconds_to_next_event(11.0, drain_until=None) == 2.0
    assert plan.overdue(12.9) == []
    assert [j.id for j in plan.overdue(13.0)] == [0]
    assert plan.overdue(20.0) == []  # said once
    assert plan.seconds_to_next_event(13.0, drain_until=None) is None
    assert plan.seconds_to_next_event(13.0, drain_until=14.5) == 1.5


def test_failures_back_off_doubling_to_eight_seconds_and_an_answer_resets() -> None:
    plan = planner()
    plan.add(job(0), 0.0)
    waits = []
    for _ in range(6):
        plan.failed(now_s=100.0)
        waits.append(plan.retry_at - 100.0)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert plan.next_request(107.9, lambda p: None) is None
    assert plan.next_request(108.0, lambda p: None) is not None
    plan.answered()
    plan.failed(now_s=200.0)
    assert plan.retry_at == 200.5


def test_a_missing_line_is_asked_once_more_then_given_up() -> None:
    plan = planner()
    waiting = job(0)
    plan.add(waiting, 0.0)
    assert plan.missed([waiting], [(0, "de")]) == []
    assert plan.missed([waiting], [(0, "de")]) == [(waiting, ["de"])]


def test_settled_words_of_a_partial_are_asked_only_when_no_final_waits() -> None:
    plan = planner()
    plan.offer_partial(partial(4))
    plan.add(job(3), 0.0)  # a final drops the partial
    request = plan.next_request(0.0, lambda p: job(p.id, ("es",)))
    assert request is not None and request.final
    waiting = plan.pending[0]
    waiting.langs.clear()
    plan.finished(waiting)
    plan.offer_partial(partial(4))
    request = plan.next_request(0.0, lambda p: job(p.id, ("es",)))
    assert request is not None and not request.final and request.partial is not None
    assert plan.next_request(0.0, lambda p: job(p.id, ("es",))) is None  # asked once


def test_partials_off_are_never_asked_for_and_disabled_asks_nothing() -> None:
    off = planner(partials=False)
    off.offer_partial(partial(1))
    assert off.next_request(0.0, lambda p: job(p.id)) is None
    plan = planner()
    plan.add(job(0), 0.0)
    assert [j.id for j in plan.disable()] == [0]
    plan.add(job(1), 0.0)
    assert plan.next_request(0.0, lambda p: None) is None
