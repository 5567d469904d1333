"""Fan-out of caption revisions to feed clients, one small queue each.

The per-client queue pattern of websockets' broadcast guide: each client has its own
coalescing channel, which its relay task empties onto the socket. A client that falls
behind gets only the newest revision of each line instead of a backlog; one whose queue
is full of finals is let go (it reconnects and resumes from a snapshot). Publishing
never waits, so nothing a client does can delay the pipeline or the other clients.
Pure bookkeeping: the server does the sending and closing.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from canvascap.pipeline.channel import Channel, Closed, Full, Policy
from canvascap.pipeline.types import Caption

__all__ = ["FanOutBook", "FeedClient"]

C = TypeVar("C")


class FeedClient(Generic[C]):
    """One connected feed client: its connection and the revisions waiting for it."""

    def __init__(self, connection: C, size: int) -> None:
        self.connection = connection
        self.queue: Channel[Caption] = Channel("overlay.client", size, Policy.COALESCE)


class FanOutBook(Generic[C]):
    """The feed's clients, and who is too slow to keep."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.clients: set[FeedClient[C]] = set()

    def join(self, connection: C) -> FeedClient[C]:
        """A new client, queued for from now on."""
        client = FeedClient(connection, self.queue_size)
        self.clients.add(client)
        return client

    def leave(self, client: FeedClient[C]) -> None:
        """A client has gone (or is let go): its relay drains what is queued and ends."""
        self.clients.discard(client)
        client.queue.close()

    def publish(self, caption: Caption) -> list[FeedClient[C]]:
        """Queue ``caption`` for every client; the clients too slow to take it, who are
        let go (the caller closes their connections)."""
        slow: list[FeedClient[C]] = []
        for client in list(self.clients):
            try:
                client.queue.send_nowait(caption)
            except (Full, Closed):
                slow.append(client)
                self.leave(client)
        return slow

    def close(self) -> None:
        """The session ends: every relay sends what is queued, then closes."""
        for client in list(self.clients):
            client.queue.close()
