"""Fan-out to feed clients: each gets every revision, a slow one is let go, none waits."""

from __future__ import annotations

from canvascap.web.fanout import FanOutBook
from tests.overlay_helpers import caption


async def test_every_client_gets_every_revision_and_a_slow_one_is_let_go() -> None:
    book: FanOutBook[str] = FanOutBook(queue_size=2)
    quick = book.join("quick")
    slow = book.join("slow")
    assert book.publish(caption(0, "one")) == []
    assert [item.text async for item in _drain_now(quick.queue)] == ["one"]
    assert book.publish(caption(1, "two")) == []
    let_go = book.publish(caption(2, "three"))  # the slow client holds two finals already
    assert [client.connection for client in let_go] == ["slow"]
    assert book.clients == {quick}
    assert slow.queue.closed


async def test_partials_of_a_line_coalesce_for_a_client_that_lags() -> None:
    book: FanOutBook[str] = FanOutBook(queue_size=2)
    client = book.join("tab")
    for rev in range(5):
        assert book.publish(caption(0, f"partial {rev}", rev=rev, final=False)) == []
    client.queue.close()
    assert [c.text async for c in client.queue] == ["partial 4"]


async def test_the_session_end_lets_every_relay_drain_what_is_queued() -> None:
    book: FanOutBook[str] = FanOutBook(queue_size=4)
    client = book.join("tab")
    book.publish(caption(0, "last words"))
    book.close()
    assert [c.text async for c in client.queue] == ["last words"]


async def _drain_now(queue):  # type: ignore[no-untyped-def]
    while queue.qsize():
        yield await anext(aiter(queue))
