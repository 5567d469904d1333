"""Ending tasks without swallowing the cancellation of the task that ends them."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` and wait until each has ended.

    A task's own ``CancelledError`` or failure is not raised here (its result is
    retrieved, so asyncio does not report it as lost); the caller being cancelled while
    it waits is, so a stage that is cancelled mid-cleanup still stops. This is what
    ``suppress(BaseException)`` around an ``await task`` gets wrong.
    """
    pending = {task for task in tasks if task is not None and not task.done()}
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for ended in tasks:
        if ended is not None and ended.done() and not ended.cancelled():
            ended.exception()
