"""What every DiffusionGemma backend shares: settings, retries, one overall deadline, metrics.

``LlmBackend.complete()`` owns the cross-cutting work, as LiveKit's ``recognize()``
does: each request gets one deadline for all of its attempts (a server that trickles a
byte every few seconds cannot hold it longer), transient failures are retried with
back-off inside that deadline, and every outcome is counted. A backend implements only
one attempt (``_attempt``) and, where it needs them, ``_start``, ``count_tokens`` and
``aclose``; a runtime that can hold canvas positions also implements
``skeleton_tokens`` (see ``canvascap.stages.translation.skeleton``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from canvascap.pipeline.metrics import Metrics
from canvascap.stages.translation.skeleton import Skeleton, Vocabulary

__all__ = [
    "BackendError",
    "Completion",
    "LlmBackend",
    "LlmOptions",
    "RetryableError",
    "server_client",
]

log = logging.getLogger(__name__)


class LlmOptions(BaseModel):
    """Where DiffusionGemma runs and how long a request may take."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "openai"] = "openai"
    model: str | None = None
    """Model folder or hub id (transformers), or the served model's name (openai)."""
    url: str = "http://127.0.0.1:8000/v1"
    """Base URL of the OpenAI-compatible server (vLLM)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the server's API key, if it needs one."""
    kind: Literal["auto", "diffusion", "chat"] = "auto"
    """What the openai server serves: DiffusionGemma (packed canvases), an ordinary chat
    model (one line per request), or ``auto``: DiffusionGemma when the served model's
    name says so, a chat model otherwise."""
    tokenizer: str | None = None
    """Tokenizer for packing with the openai backend; a character estimate if unset."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    denoising_steps: int = Field(16, ge=1, le=256)
    timeout_s: float = Field(15.0, gt=0)
    """Longest a request may take, all of its retries included."""
    retries: int = Field(2, ge=0)
    """Further attempts after a transient failure (connection lost, HTTP 5xx)."""
    pinned: bool = True
    """Hold each line's ``id|lang|`` prefix in place on the canvas (a pinned skeleton);
    off, or on a server that refuses it, the model writes the lines as free text."""
    draft_confidence: float = Field(0.8, gt=0, le=1)
    """A draft shows a token only once the model gives it this probability."""


@dataclass(frozen=True)
class Completion:
    """What a backend wrote for one request."""

    text: str
    truncated: bool = False
    """The output hit the token limit, so its last line may be cut."""
    pinned: bool = False
    """The runtime held the request's skeleton: read lines by position."""


class BackendError(Exception):
    """A request failed; the message says why, in words a user can act on."""


class RetryableError(BackendError):
    """A failure worth another attempt: the connection broke, or the server erred (5xx)."""


OnDraft = Callable[[str], None]


class LlmBackend(ABC):
    """A DiffusionGemma runtime: in process, or behind an OpenAI-compatible server."""

    start_has_deadline: ClassVar[bool] = True
    """Whether ``start`` gives up after ``timeout_s``: yes for a server that should
    answer at once, no for a model that loads in process for as long as it takes."""

    canvas_length: int = 256
    """Tokens in one canvas; a skeleton fills exactly this many."""

    drafts_hold: ClassVar[bool] = False
    """Whether the tokens a draft shows are held until the answer is committed, so the
    answer starts with them: only then may the stage show drafts as stable."""

    def __init__(self, options: LlmOptions, metrics: Metrics | None = None) -> None:
        self.options = options
        self.metrics = metrics or Metrics()

    async def start(self) -> None:
        """Load the model or check the server, within the request deadline.

        Raises ``UserError`` for a setting that cannot work, ``BackendError`` otherwise.
        """
        try:
            async with asyncio.timeout(self.options.timeout_s if self.start_has_deadline else None):
                await self._start()
        except TimeoutError:
            raise BackendError(f"no answer within {self.options.timeout_s:g} s") from None

    async def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        on_draft: OnDraft | None = None,
        skeleton: Skeleton | None = None,
    ) -> Completion:
        """One request: attempts with back-off, all within ``timeout_s``.

        ``on_draft`` gets intermediate canvases where the runtime has them; a
        ``skeleton`` is held where the runtime can (``Completion.pinned`` says so).
        Raises ``BackendError`` saying why when no attempt succeeded in time.
        """
        self.metrics.count("llm.requests")
        delay_s = 0.25
        try:
            async with asyncio.timeout(self.options.timeout_s):
                for attempt in range(self.options.retries + 1):
                    try:
                        return await self._attempt(prompt, max_tokens, on_draft, skeleton)
                    except RetryableError as error:
                        if attempt == self.options.retries:
                            raise
                        self.metrics.count("llm.retries")
                        log.debug("request failed (%s); retrying in %.2f s", error, delay_s)
                        await asyncio.sleep(delay_s)
                        delay_s *= 2
        except TimeoutError:
            self.metrics.count("llm.timeouts")
            raise BackendError(f"no complete answer within {self.options.timeout_s:g} s") from None
        except BackendError:
            self.metrics.count("llm.errors")
            raise
        raise BackendError("no attempt was made")  # retries >= 0: not reached

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text``; without a tokenizer, a safe estimate (3 characters a token)."""
        return max(1, -(-len(text) // 3))

    async def skeleton_tokens(self, lines: list[str]) -> tuple[list[list[int]], Vocabulary] | None:
        """Each line's token ids and the ids a skeleton needs, or None where this
        runtime cannot hold canvas positions (requests are then free text)."""
        return None

    async def aclose(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release connections and threads."""

    async def _start(self) -> None:  # noqa: B027 - a backend with nothing to start
        """Backend-specific start-up; nothing by default."""

    @abstractmethod
    async def _attempt(
        self, prompt: str, max_tokens: int, on_draft: OnDraft | None, skeleton: Skeleton | None
    ) -> Completion:
        """One attempt at a request. Raise ``RetryableError`` for transient failures and
        ``BackendError`` for the rest."""


def server_client(options: LlmOptions) -> httpx.AsyncClient:
    """One pooled client for the server at ``options.url``, with its API key if set."""
    headers = {}
    if key := os.environ.get(options.api_key_env):
        headers["Authorization"] = f"Bearer {key}"
    return httpx.AsyncClient(
        base_url=options.url.rstrip("/"),
        headers=headers,
        timeout=httpx.Timeout(options.timeout_s, connect=min(3.0, options.timeout_s)),
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )
