"""DiffusionGemma behind any OpenAI-compatible server; vLLM is the one to scale on.

Requests follow what vLLM accepts for DiffusionGemma: ``max_tokens`` at most one canvas
(256), thinking off through ``chat_template_kwargs``, the number of denoising steps in
``vllm_xargs``, and none of ``temperature``, ``seed`` or ``response_format`` (vLLM
refuses them for diffusion models with HTTP 400). Streaming sends one chunk per
committed canvas, so no per-step drafts reach this side.

One pooled HTTP client, a timeout per request, and retries with exponential back-off
on connection errors and 5xx answers. 4xx answers are not retried: they mean the
request itself is wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import httpx

from pipeline.errors import UserError
from stages.translate import Completion, TranslateOptions

__all__ = ["OpenAIBackend"]

log = logging.getLogger(__name__)


class OpenAIBackend:
    """``LlmBackend`` over ``/v1/chat/completions`` with streaming."""

    def __init__(self, options: TranslateOptions) -> None:
        self.options = options
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

    async def start(self) -> None:
        """Health check: list the served models, and pick one if none was named."""
        response = await self.client.get("/models")
        response.raise_for_status()
        served = [m.get("id") for m in response.json().get("data", [])]
        if self.model is None:
            if not served:
                raise RuntimeError("the server lists no model")
            self.model = served[0]
        elif served and self.model not in served:
            raise UserError(
                f"the server at {self.options.url} does not serve '{self.model}' "
                f"(it serves: {', '.join(map(str, served))}); fix --llm-model"
            )

    def count_tokens(self, text: str) -> int:
        """The configured tokenizer's count, else a safe estimate (3 characters a token)."""
        if self._tokenizer is not None:
            return len(self._tokenizer.encode(text, add_special_tokens=False))
        return max(1, -(-len(text) // 3))

    async def complete(
        self, prompt: str, *, max_tokens: int, on_draft: Callable[[str], None] | None = None
    ) -> Completion:
        """One streamed request, retried on connection errors and 5xx."""
        if self.model is None:
            await self.start()
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": min(256, max_tokens),
            "stream": True,
            "chat_template_kwargs": {"enable_thinking": False},
            "vllm_xargs": {"diffusion_max_steps": self.options.denoising_steps},
        }
        delay = 0.25
        for attempt in range(self.options.retries + 1):
            try:
                return await self._stream(body)
            except (httpx.TransportError, _ServerError) as error:
                if attempt == self.options.retries:
                    raise
                log.debug("request failed (%s); retrying in %.2f s", error, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _stream(self, body: dict[str, Any]) -> Completion:
        parts: list[str] = []
        finish = None
        async with self.client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code >= 500:
                raise _ServerError(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                detail = (await response.aread()).decode(errors="replace")[:200]
                raise RuntimeError(f"HTTP {response.status_code}: {detail}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                for choice in chunk.get("choices", []):
                    parts.append((choice.get("delta") or {}).get("content") or "")
                    finish = choice.get("finish_reason") or finish
        return Completion(text="".join(parts), truncated=finish == "length")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


class _ServerError(Exception):
    """A 5xx answer: worth retrying."""


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
