"""Errors the command line turns into one readable line instead of a traceback."""

from __future__ import annotations

__all__ = ["StageFailed", "UserError"]


class UserError(Exception):
    """Bad input from the person running canvascap: the message says what and how to fix it.

    The command line prints it on one line and exits with status 2.
    """


class StageFailed(Exception):
    """A stage raised while running; the pipeline stopped after flushing what it had."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"stage '{stage}' failed: {type(error).__name__}: {error}")
        self.stage = stage
        self.error = error
