"""Overflow policies, end of stream, and the never-drop-a-final rule."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from canvascap.pipeline.channel import Channel, Closed, FanOut, Full, Policy
from tests.timing import seconds, settle


@dataclass(frozen=True)
class Item:
    id: int
    rev: int
    final: bool = False
    origin_ns: int = 0

    @property
    def key(self) -> int:
        return self.id


async def drain(channel: Channel) -> list:
    channel.close()
    return [item async for item in channel]


async def test_drop_oldest_evicts_head_and_counts() -> None:
    channel: Channel[int] = Channel("audio", 3, Policy.DROP_OLDEST)
    for n in range(5):
        channel.send_nowait(n)
    assert await drain(channel) == [2, 3, 4]
    assert channel.stats.dropped == 2


async def test_coalesce_replaces_queued_revision_in_place() -> None:
    channel: Channel[Item] = Channel("captions", 4, Policy.COALESCE)
    channel.send_nowait(Item(1, 0))
    channel.send_nowait(Item(2, 0))
    channel.send_nowait(Item(1, 1))
    assert await drain(channel) == [Item(1, 1), Item(2, 0)]
    assert channel.stats.coalesced == 1


async def test_coalesce_never_replaces_or_drops_a_final() -> None:
    channel: Channel[Item] = Channel("captions", 2, Policy.COALESCE)
    channel.send_nowait(Item(1, 3, final=True))
    channel.send_nowait(Item(2, 0))
    channel.send_nowait(Item(3, 0))  # full: evicts the oldest partial, never the final
    channel.send_nowait(Item(4, 0, final=True))  # evicts partial 3
    assert channel.stats.dropped == 2
    with pytest.raises(Full):  # only finals queued: a sender would have to wait
        channel.send_nowait(Item(5, 0, final=True))
    assert await drain(channel) == [Item(1, 3, final=True), Item(4, 0, final=True)]


async def test_final_waits_for_room_when_only_finals_are_queued() -> None:
    channel: Channel[Item] = Channel("captions", 1, Policy.COALESCE)
    await channel.send(Item(1, 0, final=True))
    sending = asyncio.create_task(channel.send(Item(2, 0, final=True)))
    await settle()
    assert not sending.done()
    received = await anext(aiter(channel))
    await asyncio.wait_for(sending, seconds(1))
    assert received == Item(1, 0, final=True)
    assert await drain(channel) == [Item(2, 0, final=True)]


async def test_block_policy_applies_back_pressure() -> None:
    channel: Channel[int] = Channel("edge", 1, Policy.BLOCK)
    await channel.send(1)
    blocked = asyncio.create_task(channel.send(2))
    await settle()
    assert not blocked.done()
    assert await anext(aiter(channel)) == 1
    await asyncio.wait_for(blocked, seconds(1))


async def test_close_drains_then_ends_and_rejects_new_items() -> None:
    channel: Channel[int] = Channel("edge", 4)
    await channel.send(1)
    channel.close()
    assert [item async for item in channel] == [1]
    with pytest.raises(Closed):
        await channel.send(2)


async def test_receiver_waiting_on_empty_channel_wakes_on_close() -> None:
    channel: Channel[int] = Channel("edge", 4)
    collected = asyncio.create_task(_collect(channel))
    await settle()
    channel.close()
    assert await asyncio.wait_for(collected, seconds(1)) == []


async def test_fan_out_gives_each_sink_every_item_under_its_own_policy() -> None:
    fast: Channel[Item] = Channel("a", 10, Policy.BLOCK)
    slow: Channel[Item] = Channel("b", 1, Policy.COALESCE)
    fan = FanOut([fast, slow])
    for rev in range(3):
        await fan.send(Item(1, rev))
    fan.close()
    assert [i.rev async for i in fast] == [0, 1, 2]
    assert [i.rev async for i in slow] == [2]


async def _collect(channel: Channel[int]) -> list[int]:
    return [item async for item in channel]
