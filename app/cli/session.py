"""Runs one pipeline as a command-line session: signals, stop, cancel, exit codes."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from canvascap.pipeline.runner import Pipeline

__all__ = ["run_session"]


def run_session(
    pipeline: Pipeline,
    on_ready: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """Run until the input ends or Ctrl-C; return 0, or 130 after a hard cancel.

    The first Ctrl-C (or SIGTERM) stops the source and lets the last words drain; a
    second one, or ``shutdown_timeout_s`` passing, cancels everything at once.
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        presses = 0

        def on_signal() -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                if on_stop:
                    on_stop()
                pipeline.stop()
            else:
                pipeline.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await pipeline.run(on_ready)

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("canvascap: cancelled; the transcript so far was kept", file=sys.stderr)
        return 130
    return 0
