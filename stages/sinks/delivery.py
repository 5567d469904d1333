"""What every caption output on the network shares: order, retries, and never a stall.

A platform that takes captions over HTTP (Zoom, YouTube Live) gets each final caption
of one chosen line - the spoken one, or one translation - as one POST, numbered with
an increasing ``seq``. A POST that fails (an error code, a timeout, no connection) is
sent again with the same ``seq``, with back-off, until it is accepted, so captions
arrive in order and a platform that did receive a timed-out POST drops the repeat.
Delivery runs in a task of its own behind a bounded queue: a slow, failing or
unreachable endpoint never slows the pipeline; its failures are counted, the sink is
marked degraded on ``/healthz`` and the control page, and captions keep flowing
everywhere else. When the session ends, what is still queued gets ``drain_s``.

The endpoint's URL carries its credentials (a signature, an API token): it comes from
the config or an environment variable, and is never logged or served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from canvascap.captions.profanity import for_display
from canvascap.pipeline.channel import Receiver, Sender
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.tasks import cancel_and_wait
from canvascap.pipeline.types import Caption, Role

__all__ = ["CaptionDelivery", "DeliveryOptions", "Post", "platform_line"]

log = logging.getLogger(__name__)


def untranslated(caption: Caption, lang: str | None) -> bool:
    """Whether ``caption`` is the final of the line a platform takes, left untranslated:
    it is not sent (a platform shows only real translations), only counted."""
    return lang is not None and caption.final and caption.stand_in and caption.lang == lang


def platform_line(caption: Caption, lang: str | None) -> bool:
    """Whether a platform that takes one line of captions takes ``caption``: the finals
    of the spoken line, or of the translation into ``lang`` when one is chosen."""
    if not caption.final or not caption.text or caption.stand_in:
        return False  # a stand-in is the spoken words, not the translation asked for
    if lang is None:
        return caption.spoken
    return caption.role is Role.TRANSLATION and caption.lang == lang


class DeliveryOptions(BaseModel):
    """Options every caption output on the network has."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None
    """The endpoint, credentials included; or leave it unset and use ``url_env``."""
    url_env: str = ""
    """Environment variable holding the URL (kept out of shell history and ``ps``)."""
    lang: str | None = None
    """Which line to send: unset for the spoken one, or a translation target (``es``)."""
    timeout_s: float = Field(5.0, gt=0)
    """Longest a POST may take before it is sent again."""
    max_backoff_s: float = Field(8.0, gt=0)
    max_queue: int = Field(1000, ge=1)
    """Captions waiting for a failing endpoint; the oldest are dropped (and counted)."""
    drain_s: float = Field(3.0, ge=0)
    """At the end of the session, how long what is still queued may take."""


class Post:
    """One HTTP request a delivery makes for a caption."""

    def __init__(self, params: dict[str, str], body: str, content_type: str) -> None:
        self.params = params
        self.body = body
        self.content_type = content_type


class CaptionDelivery(ABC):
    """Delivers final captions to an HTTP endpoint, in order, one ``seq`` each."""

    accepts: ClassVar[type | None] = Caption
    emits: ClassVar[type | None] = None
    Options: ClassVar[type[BaseModel]] = DeliveryOptions
    label: ClassVar[str] = "captions"
    """What the endpoint is called in messages (``Zoom``, ``YouTube``)."""

    def __init__(self, options: DeliveryOptions, ctx: Context) -> None:
        self.name = "delivery"
        self.options = options
        self.ctx = ctx
        self._display = for_display(ctx)
        url = options.url.get_secret_value() if options.url else os.environ.get(options.url_env)
        if not url:
            where = f" or set {options.url_env}" if options.url_env else ""
            raise UserError(f"{self.label} captions need the endpoint's URL: give it{where}")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise UserError(f"the {self.label} caption URL must be an http(s) address")
        self._url = url
        self._queue: deque[Caption] = deque()
        self._wake = asyncio.Event()
        self._ending = False
        self.seq = 1
        """The ``seq`` of the next caption; a retry keeps it."""
        self._client: httpx.AsyncClient | None = None

    @abstractmethod
    def post_for(self, caption: Caption, seq: int) -> Post:
        """The request that delivers ``caption`` as number ``seq``."""

    def accepted(self, response: httpx.Response, sent_ns: int) -> None:  # noqa: B027
        """Learn from an accepted POST (e.g. the endpoint's clock); nothing by default."""

    async def prepare(self) -> None:
        """Open the connection pool (nothing is sent until captions come)."""
        self._client = httpx.AsyncClient(timeout=self.options.timeout_s)

    async def run(self, inbox: Receiver[Caption], outbox: Sender[Any]) -> None:
        """Queue the wanted finals; a task of its own delivers them."""
        delivering = asyncio.create_task(self._deliver())
        try:
            async for caption in inbox:
                if untranslated(caption, self.options.lang):
                    self.ctx.metrics.count(f"{self.name}.untranslated")
                if platform_line(caption, self.options.lang):
                    self._queue.append(self._display(caption))
                    if len(self._queue) > self.options.max_queue:
                        self._queue.popleft()
                        self.ctx.metrics.count(f"{self.name}.dropped")
                    self._wake.set()
            self._ending = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(delivering), self.options.drain_s)
        finally:
            await cancel_and_wait(delivering)
            if self._queue:
                self.ctx.metrics.count(f"{self.name}.undelivered", len(self._queue))
                log.warning(
                    "%d caption(s) could not be delivered to %s", len(self._queue), self.label
                )

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            await self._client.aclose()

    async def _deliver(self) -> None:
        delay_s = 0.5
        while True:
            if not self._queue:
                if self._ending:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            caption = self._queue[0]
            problem = await self._send(caption)
            if problem is None:
                self._queue.popleft()
                self.seq += 1
                delay_s = 0.5
                self.ctx.metrics.count(f"{self.name}.sent")
                if self.ctx.metrics.recover(self.name):
                    log.warning("%s takes captions again", self.label)
                continue
            self.ctx.metrics.count(f"{self.name}.failures")
            if self.ctx.metrics.degrade(self.name, f"{self.label}: {problem}"):
                log.warning(
                    "%s did not take a caption (%s); retrying, captions go on elsewhere",
                    self.label,
                    problem,
                )
            await asyncio.sleep(delay_s)
            delay_s = min(self.options.max_backoff_s, delay_s * 2)

    async def _send(self, caption: Caption) -> str | None:
        """POST one caption; return why it failed, or ``None``."""
        client = self._client
        if client is None:
            raise RuntimeError("the delivery was not prepared")
        post = self.post_for(caption, self.seq)
        sent_ns = self.ctx.clock.now_ns()
        try:
            response = await client.post(
                _with_params(self._url, post.params),
                content=post.body.encode("utf-8"),
                headers={"Content-Type": post.content_type},
            )
        except httpx.TimeoutException:
            return f"no answer within {self.options.timeout_s:g} s"
        except httpx.HTTPError as error:
            # The message of a connection error can hold the URL, credentials and all.
            return f"cannot connect ({type(error).__name__})"
        if not response.is_success:
            return f"HTTP {response.status_code}"
        self.accepted(response, sent_ns)
        return None


def _with_params(url: str, params: dict[str, str]) -> str:
    """The URL with ``params`` appended: the platform's own query (its credentials) stays
    as it was given, byte for byte."""
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
