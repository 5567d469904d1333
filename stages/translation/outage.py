"""What the user is told about a translation backend that fails: once, when it starts
failing, and once more when it answers again; every failure in between is counted.

A server that is down fails every request; a warning per request would bury the
terminal (and say nothing new), while the health endpoint and the control page keep
the count. Pure: the stage logs the lines it is handed.
"""

from __future__ import annotations

from canvascap.pipeline.metrics import Metrics

__all__ = ["Outage"]


class Outage:
    """The backend's failures since it last answered."""

    def __init__(self, stage: str, metrics: Metrics) -> None:
        self.stage = stage
        self.metrics = metrics
        self.failures = 0

    def failed(self, why: str) -> str | None:
        """A request failed; the warning to give, for the first failure of an outage."""
        self.failures += 1
        if self.failures > 1:
            return None
        self.metrics.degrade(self.stage, f"translation backend failing: {why}")
        return (
            f"translation backend failing ({why}): the spoken words stand in for "
            "translations until it answers; further failures are counted "
            "(translate.request_errors)"
        )

    def answered(self) -> str | None:
        """A request came back with lines; the line to say if that ends an outage."""
        if not self.failures:
            return None
        failures, self.failures = self.failures, 0
        self.metrics.recover(self.stage)
        return f"translation backend answers again (after {failures} failed request(s))"
