"""Runs one pipeline as a command-line session: signals, stop, cancel, exit codes."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from canvascap.pipeline.runner import Pipeline

__all__ = ["run_session", "say"]

# Ctrl-C, `kill`, and the terminal or SSH session closing all end a session the same way.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

REPEAT_QUIET_S = 10.0
"""An error the event loop reports again within this long is counted, not printed."""


def say(message: str) -> None:
    """One status line on stderr, prefixed so it reads apart from captions.

    A closed or broken stderr (the SSH session is gone) must not end the session.
    """
    try:
        print(f"canvascap: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def run_session(
    pipeline: Pipeline,
    on_ready: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> int:
    """Run until the input ends or Ctrl-C; return 0, or 130 after a hard cancel.

    The first Ctrl-C (or SIGTERM, or SIGHUP) stops the source and lets the last words
    drain, so the transcript files are completed; a second one, or
    ``shutdown_timeout_s`` passing, cancels everything at once.
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_quiet_repeats())
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

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, on_signal)
        await pipeline.run(on_ready)

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        say("cancelled; the transcript so far was kept")
        return 130
    return 0


def _quiet_repeats() -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event-loop error handler that prints each kind of error at most every 10 s.

    When the process runs out of file descriptors asyncio reports every failed accept;
    one line with a count says as much as thousands.
    """
    last_s: dict[str, float] = {}
    quiet: Counter[str] = Counter()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        now = time.monotonic()
        if now - last_s.get(message, -REPEAT_QUIET_S) < REPEAT_QUIET_S:
            quiet[message] += 1
            return
        last_s[message] = now
        if quiet[message]:
            context = {**context, "message": f"{message} ({quiet.pop(message)} more since)"}
        loop.default_exception_handler(context)

    return handle
