"""DiffusionGemma in process, through Hugging Face transformers.

The only module that imports ``torch`` and ``transformers``. It is also the only path
that exposes per-step drafts: ``generate()`` calls ``put_draft`` on the streamer after
every denoising step. A logits processor notes each position's probability on the
device (256 numbers a step, never the full logits), so a draft shows only what the
model is already sure of; the same processor holds a pinned skeleton's positions at
their seed value on every step. Runs in bf16 on CUDA when available, float32 on the
CPU. Generation runs in one worker thread, never on the event loop; a request past its
deadline stops at the next denoising step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from canvascap.pipeline.errors import UserError
from canvascap.pipeline.metrics import Metrics
from canvascap.stages.translation.engines.backend import (
    BackendError,
    Completion,
    LlmBackend,
    LlmOptions,
    OnDraft,
)
from canvascap.stages.translation.skeleton import Skeleton, Vocabulary, split_lines

__all__ = ["TransformersBackend"]

log = logging.getLogger(__name__)


class TransformersBackend(LlmBackend):
    """``LlmBackend`` over ``DiffusionGemmaForBlockDiffusion``."""

    start_has_deadline = False  # a 26B model loads for as long as it takes
    drafts_hold = True  # _CanvasProcessor holds what each draft showed

    def __init__(self, options: LlmOptions, metrics: Metrics | None = None) -> None:
        if not options.model:
            raise UserError(
                "the transformers backend needs a model: --llm-model PATH_OR_ID "
                "(e.g. google/diffusiongemma-26B-A4B-it)"
            )
        super().__init__(options, metrics)
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="diffusion-gemma")
        self._eos: list[int] = []

    async def _start(self) -> None:
        """Load tokenizer and model in the worker thread (once)."""
        if self.model is not None:
            return
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    def _load(self) -> None:
        model_id = self.options.model or ""
        try:
            import torch
            from transformers import AutoTokenizer
            from transformers.models.diffusion_gemma import DiffusionGemmaForBlockDiffusion
        except ImportError:
            raise UserError(
                "the transformers backend needs PyTorch and transformers: "
                "pip install 'canvascap[llm]' (with a CUDA build of torch for a GPU)"
            ) from None
        wanted = self.options.device
        self.device = (
            "cuda"
            if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
            else "cpu"
        )
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id)
            model = DiffusionGemmaForBlockDiffusion.from_pretrained(model_id, dtype=dtype)
        except OSError as error:
            raise UserError(
                f"cannot load DiffusionGemma from '{model_id}': {error}".split("\n")[0]
                + " (give a local folder, or connect to the internet for a hub id)"
            ) from None
        self.model = model.to(self.device).eval()  # type: ignore[arg-type]
        self.canvas_length = int(getattr(self.model.config, "canvas_length", 256))
        self._eos = end_of_turn_ids(self.model.generation_config.eos_token_id, self.tokenizer)
        log.info("DiffusionGemma loaded on %s", self.device)

    def count_tokens(self, text: str) -> int:
        """Tokens in the model's own tokenizer."""
        if self.tokenizer is None:
            return super().count_tokens(text)
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    async def skeleton_tokens(self, lines: list[str]) -> tuple[list[list[int]], Vocabulary] | None:
        """Token ids from the model's own tokenizer (a few lines: cheap on the loop)."""
        if self.tokenizer is None or not self.options.pinned:
            return None
        newline = self.tokenizer.encode("\n", add_special_tokens=False)
        if len(newline) != 1:
            return None
        ids = self.tokenizer.encode("\n".join(lines) + "\n", add_special_tokens=False)
        split = split_lines(ids, newline[0], len(lines))
        if split is None:
            return None
        pad = self.tokenizer.pad_token_id
        filler = pad if isinstance(pad, int) else newline[0]
        stops = frozenset([*self._eos, filler])
        return split, Vocabulary(newline[0], filler, self._eos[-1] if self._eos else None, stops)

    async def _attempt(
        self, prompt: str, max_tokens: int, on_draft: OnDraft | None, skeleton: Skeleton | None
    ) -> Completion:
        """Generate one canvas; drafts go to ``on_draft`` on the event loop."""
        loop = asyncio.get_running_loop()
        abandoned = threading.Event()

        def draft(text: str) -> None:
            if abandoned.is_set():
                raise _Abandoned  # stops generate() at this step, freeing the worker
            if on_draft is not None:
                loop.call_soon_threadsafe(on_draft, text)

        try:
            return await loop.run_in_executor(
                self._executor, self._generate, prompt, max_tokens, draft, skeleton
            )
        except _Abandoned:
            raise BackendError("generation abandoned") from None
        except asyncio.CancelledError:
            # The request's deadline passed (or the stage stopped): the denoising loop
            # notices at its next step, so the only worker is not held by a dead request.
            abandoned.set()
            raise

    def _generate(
        self,
        prompt: str,
        max_tokens: int,
        draft: Callable[[str], None],
        skeleton: Skeleton | None = None,
    ) -> Completion:
        import torch
        from transformers import LogitsProcessorList

        encoded = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
            enable_thinking=False,
        )
        input_ids = encoded["input_ids"].to(self.device)
        canvas = _CanvasProcessor(skeleton, self._eos, self.device)
        streamer = _DraftStreamer(
            self.tokenizer, draft, canvas, skeleton, self.options.draft_confidence, self._eos
        )
        extra: dict[str, Any] = {}
        if skeleton is not None:
            extra["decoder_input_ids"] = torch.tensor([skeleton.seed], device=self.device)
            max_tokens = self.canvas_length  # a skeleton is exactly one canvas
        with torch.inference_mode():
            output = self.model.generate(
                input_ids,
                streamer=streamer,
                max_new_tokens=max_tokens,
                max_denoising_steps=self.options.denoising_steps,
                eos_token_id=self._eos,
                logits_processor=LogitsProcessorList([canvas]),
                **extra,
            )
        sequences = getattr(output, "sequences", output)  # a tensor when not a dict
        if not isinstance(sequences, torch.Tensor) or sequences.dim() != 2:
            raise BackendError(f"generate() returned {type(output).__name__}, not token ids")
        if sequences.shape[1] <= input_ids.shape[1]:
            raise BackendError("generate() returned no new tokens")
        new = sequences[0, input_ids.shape[1] :]
        ended = any(int(t) in self._eos or int(t) == self.tokenizer.pad_token_id for t in new)
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        return Completion(
            text=text,
            truncated=not ended and len(new) >= max_tokens,
            pinned=skeleton is not None,
        )

    async def aclose(self) -> None:
        """Let a generation still running finish in the background."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Abandoned(Exception):
    """Raised inside ``generate()`` by the streamer once nobody waits for the answer."""


def end_of_turn_ids(checkpoint: int | list[int] | None, tokenizer: Any) -> list[int]:
    """The checkpoint's own end ids, with the tokenizer's end-of-sequence and the chat
    template's end-of-turn markers added (never replacing the checkpoint's list)."""
    ids = [checkpoint] if isinstance(checkpoint, int) else list(checkpoint or [])
    extra = [tokenizer.eos_token_id]
    for marker in ("<turn|>", "<end_of_turn>"):
        token = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token, int) and token != tokenizer.unk_token_id:
            extra.append(token)
    for token in extra:
        if token is not None and token not in ids:
            ids.append(token)
    return ids


class _CanvasProcessor:
    """Runs first on every denoising step's logits, on the model's device: holds a
    skeleton's pinned positions at their seed token, and every token a draft has shown
    as stable at that token (so the committed canvas keeps what viewers were told will
    not change), keeps the end of the turn out of the lines, and notes each position's
    top probability for the draft."""

    HELD = -1e4  # finite: the temperature schedule divides it, and -inf would become nan

    def __init__(self, skeleton: Skeleton | None, end_ids: list[int], device: str) -> None:
        import torch

        self.confidence: Any = None
        self.device = device
        self.shown: dict[int, int] = {}
        """Canvas position to token, for the tokens drafts have shown as stable."""
        self.positions = self.tokens = self.free = self.banned = None
        if skeleton is not None:
            self.positions = torch.tensor(skeleton.pinned, device=device)
            self.tokens = torch.tensor([skeleton.seed[p] for p in skeleton.pinned], device=device)
            free = [p for slot in skeleton.slots for p in range(slot.start, slot.start + slot.size)]
            self.free = torch.tensor(free, device=device)[:, None]
            self.banned = torch.tensor(end_ids, device=device)

    def __call__(self, input_ids: Any, scores: Any, cur_step: Any) -> Any:
        import torch

        if self.positions is not None or self.shown:
            scores = scores.clone()
        if self.positions is not None:
            scores[:, self.positions, :] = self.HELD
            scores[:, self.positions, self.tokens] = 0.0
            if self.banned is not None and len(self.banned):
                scores[:, self.free, self.banned] = self.HELD
        if self.shown:
            positions = torch.tensor(list(self.shown), device=self.device)
            tokens = torch.tensor(list(self.shown.values()), device=self.device)
            scores[:, positions, :] = self.HELD
            scores[:, positions, tokens] = 0.0
        self.confidence = torch.softmax(scores[0].float(), dim=-1).amax(dim=-1).cpu()
        return scores

    def hold(self, shown: dict[int, int]) -> None:
        """Keep these tokens (canvas position to token) from the next step on."""
        self.shown.update(shown)

    def release(self) -> None:
        """A canvas was committed: the next one holds nothing of it."""
        self.shown.clear()


class _DraftStreamer:
    """Receives the prompt, a draft after every denoising step, then committed canvases."""

    def __init__(
        self,
        tokenizer: Any,
        on_draft: Callable[[str], None],
        canvas: _CanvasProcessor | None = None,
        skeleton: Skeleton | None = None,
        threshold: float = 0.0,
        stops: list[int] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.on_draft = on_draft
        self.canvas = canvas
        self.skeleton = skeleton
        self.threshold = threshold
        self.stops = set(stops or ())
        self.drafts = 0
        self.canvases = 0

    def put(self, value: Any) -> None:
        self.canvases += 1  # the first call is the prompt, later ones committed canvases
        if self.canvas is not None:
            self.canvas.release()

    def put_draft(self, value: Any = None, logits: Any = None) -> None:
        ids = (value if value is not None else logits.argmax(-1))[0].tolist()
        confidence = self.canvas.confidence if self.canvas is not None else None
        self.drafts += 1
        if confidence is None:
            self.on_draft(self.tokenizer.decode(ids, skip_special_tokens=True))
            return
        sure = confidence.tolist()
        if self.skeleton is not None:
            shown = self.skeleton.shown(ids, sure, self.threshold)
            self._hold({p: ids[p] for _, positions in shown for p in positions})
            self.on_draft(self.skeleton.draft(ids, sure, self.threshold, self._decode))
            return
        kept = []
        for token, probability in zip(ids, sure, strict=False):
            if probability < self.threshold or token in self.stops:
                break
            kept.append(token)
        self._hold(dict(enumerate(kept)))
        self.on_draft(self._decode(kept))

    def _hold(self, shown: dict[int, int]) -> None:
        if self.canvas is not None and shown:
            self.canvas.hold(shown)

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def end(self) -> None:
        pass
