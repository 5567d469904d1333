"""DiffusionGemma behind any OpenAI-compatible server; vLLM is the one to scale on.

Requests follow what vLLM accepts for DiffusionGemma: ``max_tokens`` at most one canvas
(256), thinking off through ``chat_template_kwargs``, the number of denoising steps in
``vllm_xargs``, and none of ``temperature``, ``seed`` or ``response_format`` (vLLM
refuses them for diffusion models with HTTP 400). Streaming sends one chunk per
committed canvas, so no per-step drafts reach this side.

One pooled HTTP client; connection errors and 5xx answers are worth another attempt,
4xx answers are not (the request itself is wrong). The answer is capped in size, and
the base class holds every request to one overall deadline.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import httpx

from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import Metrics
from canvascap.stages.llm_backend import (
    BackendError,
    Completion,
    LlmBackend,
    LlmOptions,
    OnDraft,
    RetryableError,
)

__all__ = ["OpenAIBackend"]

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 64_000
"""More than any one-canvas answer (256 tokens); a server sending more is broken."""


class OpenAIBackend(LlmBackend):
    """``LlmBackend`` over ``/v1/chat/completions`` with streaming."""

    def __init__(self, options: LlmOptions, metrics: Metrics | None = None) -> None:
        super().__init__(options, metrics)
        self.model = options.model
        headers = {}
        if key := os.environ.get(options.api_key_env):
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.AsyncClient(
            base_url=options.url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(options.timeout_s, connect=min(3.0, options.timeout_s)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        )
        self._tokenizer: Any = None
        if options.tokenizer:
            self._tokenizer = _load_tokenizer(options.tokenizer)

    async def _start(self) -> None:
        """Health check: list the served models, and pick one if none was named."""
        try:
            response = await self.client.get("/models")
            response.raise_for_status()
            served = [m.get("id") for m in response.json().get("data", [])]
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            raise BackendError(_describe(error)) from None
        if self.model is None:
            if not served:
                raise BackendError("the server lists no model")
            self.model = served[0]
        elif served and self.model not in served:
            raise UserError(
                f"the server at {self.options.url} does not serve '{self.model}' "
                f"(it serves: {', '.join(map(str, served))}); fix --llm-model"
            )

    def count_tokens(self, text: str) -> int:
        """The configured tokenizer's count, else the base class's estimate."""
        if self._tokenizer is not None:
            return len(self._tokenizer.encode(text, add_special_tokens=False))
        return super().count_tokens(text)

    async def _attempt(self, prompt: str, max_tokens: int, on_draft: OnDraft | None) -> Completion:
        """One streamed request."""
        if self.model is None:
            await self._start()
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": min(256, max_tokens),
            "stream": True,
            "chat_template_kwargs": {"enable_thinking": False},
            "vllm_xargs": {"diffusion_max_steps": self.options.denoising_steps},
        }
        try:
            return await self._stream(body)
        except httpx.TransportError as error:
            raise RetryableError(_describe(error)) from None
        except (ValueError, AttributeError) as error:  # not JSON, or not the expected shape
            raise BackendError(f"the server sent a malformed answer: {error}") from None

    async def _stream(self, body: dict[str, Any]) -> Completion:
        parts: list[str] = []
        size = 0
        finish = None
        async with self.client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code >= 500:
                raise RetryableError(f"the server answered HTTP {response.status_code}")
            if response.status_code >= 400:
                detail = (await response.aread()).decode(errors="replace")[:200]
                raise BackendError(
                    f"the server refused the request: HTTP {response.status_code}: {detail}"
                )
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                for choice in chunk.get("choices", []):
                    piece = (choice.get("delta") or {}).get("content") or ""
                    size += len(piece)
                    if size > MAX_ANSWER_CHARS:
                        raise BackendError(
                            f"the answer ran past {MAX_ANSWER_CHARS} characters; "
                            "is the server serving DiffusionGemma?"
                        )
                    parts.append(piece)
                    finish = choice.get("finish_reason") or finish
        return Completion(text="".join(parts), truncated=finish == "length")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


def _describe(error: Exception) -> str:
    """Why a request failed, never an empty string (httpx's timeouts have no message)."""
    return str(error) or type(error).__name__


def _load_tokenizer(name: str) -> Any:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UserError(
            "translate.tokenizer needs transformers: pip install transformers"
        ) from None
    try:
        return AutoTokenizer.from_pretrained(name)
    except OSError as error:
        raise UserError(f"cannot load tokenizer '{name}': {error}".split("\n")[0]) from None
