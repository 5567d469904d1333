"""DiffusionGemma behind any OpenAI-compatible server; vLLM is the one to scale on.

Requests follow what vLLM accepts for DiffusionGemma: ``max_tokens`` at most one canvas
(256), thinking off through ``chat_template_kwargs``, the number of denoising steps in
``vllm_xargs``, and none of ``temperature``, ``seed`` or ``response_format`` (vLLM
refuses them for diffusion models with HTTP 400). Streaming sends one chunk per
committed canvas, so no per-step drafts reach this side.

A pinned skeleton goes as ``vllm_xargs.diffusion_seed_canvas`` and ``diffusion_pinned``,
built from the server's own ``/tokenize``. A server without these (an older vLLM, or
another OpenAI-compatible server) is asked once in free text instead, says so once in
the log, and is asked in free text from then on (``canvascap llm check`` reports it).
So is a server that takes the fields but ignores them: an answer whose labels are not
where they were pinned is read as free text, never by position.

One pooled HTTP client; connection errors and 5xx answers are worth another attempt,
4xx answers are not (the request itself is wrong). The answer is capped in size, and
the base class holds every request to one overall deadline.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import Metrics
from canvascap.stages.translation.engines.backend import (
    BackendError,
    Completion,
    LlmBackend,
    LlmOptions,
    OnDraft,
    RetryableError,
    server_client,
)
from canvascap.stages.translation.skeleton import Skeleton, Vocabulary, split_lines

__all__ = ["OpenAIBackend"]

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 64_000
"""More than any one-canvas answer (256 tokens); a server sending more is broken."""


class OpenAIBackend(LlmBackend):
    """``LlmBackend`` over ``/v1/chat/completions`` with streaming."""

    def __init__(self, options: LlmOptions, metrics: Metrics | None = None) -> None:
        super().__init__(options, metrics)
        self.model = options.model
        self.client = server_client(options)
        self._tokenizer: Any = None
        if options.tokenizer:
            self._tokenizer = _load_tokenizer(options.tokenizer)
        self._root = options.url.rstrip("/").removesuffix("/v1")
        self._vocabulary: Vocabulary | None = None
        self.free_text_reason: str | None = None if options.pinned else "pinned: false"
        """Why requests go as free text rather than a pinned skeleton, if they do."""

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

    async def skeleton_tokens(self, lines: list[str]) -> tuple[list[list[int]], Vocabulary] | None:
        """Token ids from the server's ``/tokenize``; None once the server lacks it."""
        if self.free_text_reason is not None:
            return None
        try:
            if self._vocabulary is None:
                self._vocabulary = await self._read_vocabulary()
            if self._vocabulary is None:
                return None
            ids = await self._tokenize("\n".join(lines) + "\n")
        except BackendError as error:
            self._use_free_text(f"its /tokenize failed ({error})")
            return None
        split = split_lines(ids, self._vocabulary.newline, len(lines))
        return (split, self._vocabulary) if split is not None else None

    async def _read_vocabulary(self) -> Vocabulary | None:
        newline = await self._tokenize("\n")
        if len(newline) != 1:
            self._use_free_text("its tokenizer has no single newline token")
            return None
        specials = {}
        for marker in ("<pad>", "<turn|>", "<end_of_turn>"):
            ids = await self._tokenize(marker)
            if len(ids) == 1:
                specials[marker] = ids[0]
        filler = specials.get("<pad>", newline[0])
        end = specials.get("<turn|>", specials.get("<end_of_turn>"))
        stops = frozenset(t for t in (filler, end) if t is not None)
        return Vocabulary(newline[0], filler, end, stops)

    async def _tokenize(self, text: str) -> list[int]:
        if self.model is None:
            await self._start()
        body = {"model": self.model, "prompt": text, "add_special_tokens": False}
        try:
            response = await self.client.post(f"{self._root}/tokenize", json=body)
            response.raise_for_status()
            tokens = response.json()["tokens"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise BackendError(_describe(error)) from None
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise BackendError("/tokenize answered something other than token ids")
        return tokens

    def _use_free_text(self, why: str) -> None:
        """Fall back to free-text lines for the rest of the session; say so once."""
        if self.free_text_reason is None:
            self.free_text_reason = why
            log.warning("the server cannot hold a pinned skeleton: %s; using free-text lines", why)

    async def _attempt(
        self, prompt: str, max_tokens: int, on_draft: OnDraft | None, skeleton: Skeleton | None
    ) -> Completion:
        """One streamed request, with the skeleton pinned where the server takes it."""
        if self.model is None:
            await self._start()
        xargs: dict[str, Any] = {"diffusion_max_steps": self.options.denoising_steps}
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": min(256, max_tokens),
            "stream": True,
            "chat_template_kwargs": {"enable_thinking": False},
            "vllm_xargs": xargs,
        }
        if skeleton is not None and self.free_text_reason is None:
            pinned = {
                "diffusion_seed_canvas": list(skeleton.seed),
                "diffusion_pinned": list(skeleton.pinned),
            }
            try:
                completion = await self._post({**body, "vllm_xargs": {**xargs, **pinned}})
                if skeleton.labels_held(completion.text):
                    return Completion(completion.text, completion.truncated, pinned=True)
                # It answered but did not hold the labels: it ignores vllm_xargs.
                self._use_free_text("its answer did not keep the pinned labels")
                return completion
            except _Refused as refused:
                # Maybe only the skeleton was refused: ask once without it to find out.
                completion = await self._post(body)
                self._use_free_text(f"it refused the seed canvas ({refused})")
                return completion
        return await self._post(body)

    async def _post(self, body: dict[str, Any]) -> Completion:
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
                raise _Refused(
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


class _Refused(BackendError):
    """The server answered 4xx: the request itself is wrong, so it is not retried."""


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
