"""Runs the stages of one session concurrently and shuts them down in order.

=========================================  ===============================================
trigger                                    what happens
=========================================  ===============================================
end of the input, or ``stop()`` (first     only the source is cancelled; its outbox
Ctrl-C)                                    closes, every later stage drains what it holds
                                           (the last words are still captioned and
                                           written) and ``run()`` returns
draining takes longer than                 ``cancel()``: every stage is cancelled and
``shutdown_timeout_s``, or a second        unwinds through its ``finally`` blocks
Ctrl-C
a stage raises                             the other stages are cancelled (sinks still
                                           flush in ``finally``) and ``run()`` raises
                                           :class:`StageFailed` naming the stage
=========================================  ===============================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from canvascap.pipeline.channel import Channel, Discard, FanOut, Policy, Sender
from canvascap.pipeline.config import InboxSpec, PipelineConfig, StageSpec
from canvascap.pipeline.errors import StageFailed, UserError
from canvascap.pipeline.registry import build_stage
from canvascap.pipeline.stage import Context, Stage

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)


@dataclass
class _Node:
    stage: Stage
    inbox: Channel[Any]
    outbox: Sender[Any]


class Pipeline:
    """A built pipeline: stages in a chain whose last stage feeds every sink."""

    def __init__(self, nodes: list[_Node], ctx: Context, shutdown_timeout_s: float) -> None:
        self.nodes = nodes
        self.ctx = ctx
        self.shutdown_timeout_s = shutdown_timeout_s
        self._tasks: list[asyncio.Task[None]] = []
        self._main: asyncio.Task[Any] | None = None
        self._stopping = False
        self.stop_reason: str | None = None
        """Why the session was asked to stop early, if a stage asked."""
        ctx.on_stop_request = self._stop_requested

    @classmethod
    def build(
        cls, config: PipelineConfig, ctx: Context, extra_sinks: dict[str, Stage] | None = None
    ) -> Pipeline:
        """Construct every stage, check that each edge's types fit, and wire channels."""
        chain = [
            (build_stage(name, spec.use, spec.options, ctx, f"stages.{name}"), spec)
            for name, spec in config.stages.items()
        ]
        if not chain:
            raise UserError("invalid config: stages: at least a source stage is needed")
        sinks = [
            (build_stage(name, spec.use, spec.options, ctx, f"sinks.{name}"), spec)
            for name, spec in config.sinks.items()
        ]
        for name, stage in (extra_sinks or {}).items():
            stage.name = name
            sinks.append((stage, _default_sink_spec()))

        nodes: list[_Node] = []
        source_inbox: Channel[Any] = Channel(f"{chain[0][0].name}.inbox", 1, clock=ctx.clock)
        source_inbox.close()
        previous = chain[0][0]
        nodes.append(_Node(previous, source_inbox, Discard()))
        for stage, spec in chain[1:]:
            _check_edge(previous, stage)
            inbox: Channel[Any] = Channel(
                f"{previous.name}->{stage.name}", spec.inbox.size, spec.inbox.policy, ctx.clock
            )
            ctx.metrics.add_edge(inbox)
            nodes[-1].outbox = inbox
            nodes.append(_Node(stage, inbox, Discard()))
            previous = stage
        sink_inboxes: list[Channel[Any]] = []
        for stage, spec in sinks:
            _check_edge(previous, stage)
            inbox = Channel(
                f"{previous.name}->{stage.name}", spec.inbox.size, spec.inbox.policy, ctx.clock
            )
            ctx.metrics.add_edge(inbox)
            sink_inboxes.append(inbox)
            nodes.append(_Node(stage, inbox, Discard()))
        if sink_inboxes:
            nodes[len(chain) - 1].outbox = FanOut(sink_inboxes)
        return cls(nodes, ctx, config.shutdown_timeout_s)

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Prepare every stage, then run them all until the input ends or ``stop()``.

        ``on_ready`` is called once every stage is prepared, just before audio flows.
        """
        self._main = asyncio.current_task()
        await self._prepare_all()
        if on_ready is not None:
            on_ready()
        try:
            async with asyncio.TaskGroup() as group:
                self._tasks = [
                    group.create_task(self._drive(node), name=node.stage.name)
                    for node in self.nodes
                ]
                if self._stopping:
                    self._tasks[0].cancel()
        except BaseExceptionGroup as group_error:
            failures = [
                e for e in group_error.exceptions if isinstance(e, (StageFailed, UserError))
            ]
            if failures:
                raise failures[0] from None
            raise

    def stop(self) -> None:
        """Graceful stop: end the source and let everything downstream drain."""
        if self._stopping:
            return
        self._stopping = True
        if self._tasks:
            self._tasks[0].cancel()
        asyncio.get_running_loop().call_later(self.shutdown_timeout_s, self._timeout)

    def _stop_requested(self, reason: str) -> None:
        if not self._stopping:
            self.stop_reason = reason
            log.info("stopping: %s", reason)
        self.stop()

    def cancel(self) -> None:
        """Hard stop: cancel every stage now; sinks still flush in ``finally``."""
        if self._main is not None and not self._main.done():
            self._main.cancel()

    def _timeout(self) -> None:
        if self._main is not None and not self._main.done():
            log.warning("stages did not drain within %.1f s; cancelling", self.shutdown_timeout_s)
            self.cancel()

    async def _prepare_all(self) -> None:
        async def prepare(stage: Stage) -> None:
            try:
                await stage.prepare()
            except UserError:
                raise
            except Exception as error:
                raise StageFailed(stage.name, error) from error

        results = await asyncio.gather(
            *(prepare(node.stage) for node in self.nodes), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                await self._close_all()
                raise result

    async def _close_all(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                await node.stage.aclose()

    async def _drive(self, node: _Node) -> None:
        stage = node.stage
        try:
            await stage.run(node.inbox, node.outbox)
        except asyncio.CancelledError:
            if node is self.nodes[0] and self._stopping:
                return  # a graceful stop ends the source; the rest drains
            raise
        except UserError:
            raise
        except Exception as error:
            log.debug("stage %s failed", stage.name, exc_info=True)
            raise StageFailed(stage.name, error) from error
        finally:
            node.outbox.close()
            await stage.aclose()


def _default_sink_spec() -> StageSpec:
    return StageSpec(use="(built in)", inbox=InboxSpec(size=64, policy=Policy.BLOCK))


def _check_edge(producer: Stage, consumer: Stage) -> None:
    emits, accepts = producer.emits, consumer.accepts
    if emits is not None and accepts is not None and not issubclass(emits, accepts):
        raise UserError(
            f"invalid config: stage '{consumer.name}' accepts {accepts.__name__} but "
            f"'{producer.name}' emits {emits.__name__}: reorder the stages"
        )
