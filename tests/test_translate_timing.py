"""Deadlines, retries and back-off of translation, on a virtual clock (no real sleeps).

A scripted backend stands in for DiffusionGemma at the backend boundary: the real
``LlmBackend`` base class does the retrying and the deadline, and the real translate
stage does the packing, back-off and fallbacks. Time is the loop's virtual time, so
every figure below is exact.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from canvascap.pipeline.channel import Channel, Policy
from canvascap.pipeline.stage import Context, LoopClock
from canvascap.pipeline.types import Caption
from canvascap.stages.translation.engines.backend import (
    BackendError,
    Completion,
    LlmBackend,
    LlmOptions,
    OnDraft,
    RetryableError,
)
from canvascap.stages.translation.stage import TranslateOptions, TranslateStage
from tests.fake_vllm import answer_for
from tests.timing import run_virtual


class ScriptedBackend(LlmBackend):
    """Each attempt waits ``delay_s``, then fails while ``failures`` last, then answers."""

    def __init__(self, options: LlmOptions, delay_s: float = 0.0, failures: int = 0) -> None:
        super().__init__(options)
        self.delay_s = delay_s
        self.failures = failures
        self.attempts: list[float] = []

    async def _attempt(
        self, prompt: str, max_tokens: int, on_draft: OnDraft | None, skeleton: Any
    ) -> Completion:
        self.attempts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.delay_s)
        if self.failures:
            self.failures -= 1
            raise RetryableError("the server answered HTTP 503")
        return Completion(answer_for(prompt))


class Recorder:
    """An outbox that notes the loop time of everything sent to it."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, Caption]] = []

    async def send(self, item: Caption) -> None:
        self.sent.append((asyncio.get_running_loop().time(), item))

    def send_nowait(self, item: Caption) -> None:
        self.sent.append((asyncio.get_running_loop().time(), item))

    def close(self) -> None:
        pass


def hello() -> Caption:
    now = LoopClock().now_ns()
    return Caption(0, 1, True, "hello", "hello", "en", 0.0, 1.0, now, 5)


async def said_hello(
    backend: ScriptedBackend, options: TranslateOptions
) -> tuple[TranslateStage, Channel[Caption], Recorder]:
    """A prepared stage whose input holds one final, "hello", then ends."""
    stage = TranslateStage(options, Context(session="t", clock=LoopClock()), backend=backend)
    inbox: Channel[Caption] = Channel("in", 4, Policy.BLOCK)
    await inbox.send(hello())
    inbox.close()
    await stage.prepare()
    return stage, inbox, Recorder()


async def translate(backend: ScriptedBackend, options: TranslateOptions) -> list[Any]:
    stage, inbox, out = await said_hello(backend, options)
    await stage.run(inbox, out)
    await stage.aclose()
    return [(round(at, 3), c.final, c.text) for at, c in out.sent if c.lang == "es"]


def test_a_late_translation_shows_the_source_at_the_deadline_then_replaces_it() -> None:
    options = TranslateOptions(targets=["es"], max_lag_s=1.0, timeout_s=30, drain_s=30)
    backend = ScriptedBackend(options, delay_s=5.0)
    spanish = run_virtual(translate(backend, options))
    assert spanish == [(1.0, False, "hello"), (5.0, True, "[es] hello")]


def test_failures_are_retried_with_back_off_then_shown_untranslated() -> None:
    options = TranslateOptions(targets=["es"], max_lag_s=30, timeout_s=30, retries=2, drain_s=30)
    backend = ScriptedBackend(options, failures=99)
    spanish = run_virtual(translate(backend, options))
    # Within a request: attempts 0.25 s, then 0.5 s apart. Between requests: the stage
    # backs off 0.5 s. After two failed requests the line is shown untranslated.
    assert backend.attempts == [0.0, 0.25, 0.75, 1.25, 1.5, 2.0]
    assert spanish == [(2.0, True, "hello")]
    assert backend.metrics.counters["llm.retries"] == 4
    assert backend.metrics.counters["llm.errors"] == 2


def test_one_deadline_covers_every_attempt_of_a_request() -> None:
    # A server that answers each attempt slowly and then fails: no per-read timeout
    # would ever fire, but the request as a whole gives up at its deadline.
    options = LlmOptions(timeout_s=10, retries=5)
    backend = ScriptedBackend(options, delay_s=4.0, failures=99)

    async def request() -> tuple[float, str]:
        with pytest.raises(BackendError) as failed:
            await backend.complete("x", max_tokens=256)
        return asyncio.get_running_loop().time(), str(failed.value)

    ended_at, reason = run_virtual(request())
    assert ended_at == 10.0
    assert reason == "no complete answer within 10 s"
    assert backend.attempts == [0.0, 4.25, 8.75]
    assert backend.metrics.counters["llm.timeouts"] == 1


def test_a_backend_that_never_starts_is_given_up_at_the_deadline() -> None:
    class Silent(ScriptedBackend):
        async def _start(self) -> None:
            await asyncio.Event().wait()

    options = LlmOptions(timeout_s=3)

    async def start() -> tuple[float, str]:
        with pytest.raises(BackendError) as failed:
            await Silent(options).start()
        return asyncio.get_running_loop().time(), str(failed.value)

    assert run_virtual(start()) == (3.0, "no answer within 3 s")


def test_the_end_of_the_input_waits_for_translations_only_so_long() -> None:
    # A server that holds every request open: at the end of a file the session must
    # still end, with the waiting lines written untranslated.
    options = TranslateOptions(targets=["es"], max_lag_s=30, timeout_s=60, drain_s=4)
    backend = ScriptedBackend(options, delay_s=1000)
    assert run_virtual(translate(backend, options)) == [(4.0, True, "hello")]


def test_captions_never_wait_for_a_backend_that_is_slow_to_start() -> None:
    class SlowStart(ScriptedBackend):
        async def _start(self) -> None:
            await asyncio.sleep(20)  # a model loading, or a server not answering yet

    options = TranslateOptions(targets=["es"], max_lag_s=2, timeout_s=60, drain_s=60)
    backend = SlowStart(options)

    async def session() -> tuple[float, list[tuple[float, str, bool, str]]]:
        stage = TranslateStage(options, Context(session="t", clock=LoopClock()), backend=backend)
        await stage.prepare()
        ready_at = asyncio.get_running_loop().time()
        inbox: Channel[Caption] = Channel("in", 4, Policy.BLOCK)
        await inbox.send(hello())
        inbox.close()
        out = Recorder()
        await stage.run(inbox, out)
        await stage.aclose()
        return ready_at, [(round(at, 3), c.lang, c.final, c.text) for at, c in out.sent]

    ready_at, sent = run_virtual(session())
    assert ready_at == 1.0  # start-up waited one second for a quick "cannot work"
    assert sent == [
        (1.0, "en", True, "hello"),  # the spoken line at once
        (3.0, "es", False, "hello"),  # the source, at the deadline
        (20.0, "es", True, "[es] hello"),  # the translation once the backend is up
    ]


def test_a_server_that_answers_with_empty_text_is_backed_off() -> None:
    # 36 s of speech: a partial every 0.25 s and a final every 2 s. A server that
    # answers every request at once with nothing must not be asked again at once.
    class Empty(ScriptedBackend):
        async def _attempt(self, prompt, max_tokens, on_draft, skeleton) -> Completion:
            self.attempts.append(asyncio.get_running_loop().time())
            return Completion("")

    options = TranslateOptions(targets=["es", "pt-BR"], partials="idle", drain_s=5)
    backend = Empty(options)

    async def speech() -> list[Caption]:
        stage = TranslateStage(options, Context(session="t", clock=LoopClock()), backend=backend)
        inbox: Channel[Caption] = Channel("in", 4, Policy.BLOCK)
        out = Recorder()

        async def speak() -> None:
            for tick in range(144):
                cid, final = tick // 8, tick % 8 == 7
                now = LoopClock().now_ns()
                text = f"caption {cid} said {tick}"
                await inbox.send(Caption(cid, tick, final, text, text, "en", 0.0, 1.0, now, 0))
                await asyncio.sleep(0.25)
            inbox.close()

        await stage.prepare()
        await asyncio.gather(speak(), stage.run(inbox, out))
        await stage.aclose()
        return [c for _, c in out.sent]

    sent = run_virtual(speech())
    finals = {c.key: c.text for c in sent if c.final and c.lang != "en"}
    assert len(finals) == 18 * 2  # every line still ends, untranslated
    assert all(text.startswith("caption") for text in finals.values())
    assert len(backend.attempts) <= 20  # backed off, not hammered


def test_cancelling_the_stage_mid_request_stops_it() -> None:
    # A backend whose request unwinds slowly when cancelled (an HTTP client closing its
    # connection). The session ends while the stage waits for that request to end at
    # the close of its drain: the stage's own cancellation must still stop it, and the
    # untranslated lines it would write after the drain must not appear.
    class SlowToUnwind(ScriptedBackend):
        async def _attempt(self, prompt, max_tokens, on_draft, skeleton) -> Completion:
            asking.set()
            try:
                await asyncio.Event().wait()
            finally:
                unwinding.set()
                await asyncio.sleep(5)  # until cancelled again
            raise AssertionError("not reached")

    asking = asyncio.Event()
    unwinding = asyncio.Event()
    options = TranslateOptions(targets=["es"], max_lag_s=30, timeout_s=60, drain_s=1)
    backend = SlowToUnwind(options)

    async def session() -> tuple[bool, list[Caption]]:
        stage, inbox, out = await said_hello(backend, options)
        running = asyncio.create_task(stage.run(inbox, out))
        await asking.wait()
        await unwinding.wait()  # the drain ended: the stage is cancelling the request
        running.cancel()
        await asyncio.wait({running})
        await stage.aclose()
        return running.cancelled(), [c for _, c in out.sent if c.lang == "es"]

    cancelled, spanish = run_virtual(session())
    assert cancelled
    assert spanish == []
