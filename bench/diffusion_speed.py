"""How fast one DiffusionGemma canvas is, at the real model's size, with random weights.

    python -m canvascap.bench.diffusion_speed --out docs/diffusion-speed.md \\
        [--tiny-model DIR]

The speed of a canvas does not depend on the weights' values, so the model is built
from the published shape of ``google/diffusiongemma-26B-A4B-it`` (Gemma 4 26B-A4B: 30
layers, hidden size 2816, 128 experts with 8 active) and randomly initialised in bf16
on the GPU. It times one 256-token canvas after a caption-sized prompt, at each number
of denoising steps, at batch 1 and 4, with the draft hook (canvascap's per-step
confidence and draft decoding) on and off. With ``--tiny-model`` it then runs the
translate stage end to end on that (tiny) model: 30 finals into es, de and ja with
cleanup, and reports each request's latency and the drafts shown.

``--size tiny --device cpu`` runs the same code at a toy size, to check it without a
GPU. Writes a Markdown table (and prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]

# The published shape of the 26B-A4B checkpoint; vision kept minimal (captions are text).
FULL = {
    "vocab_size": 262_144,
    "hidden_size": 2816,
    "intermediate_size": 2112,
    "num_hidden_layers": 30,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 256,
    "global_head_dim": 512,
    "num_global_key_value_heads": 2,
    "sliding_window": 1024,
    "num_experts": 128,
    "top_k_experts": 8,
    "moe_intermediate_size": 704,
}
TINY = {
    "vocab_size": 4096,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "global_head_dim": 32,
    "num_global_key_value_heads": 1,
    "layer_types": ["sliding_attention", "full_attention"],
    "num_experts": 4,
    "top_k_experts": 2,
    "moe_intermediate_size": 64,
}
VISION = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "patch_size": 4,
    "pooling_kernel_size": 2,
}
PROMPT_TOKENS = 320  # instructions, context and a few captions
CANVAS = 256


def build(size: str, device: str) -> Any:
    """A randomly initialised model of the given size, in bf16 on CUDA."""
    import torch
    from transformers.models.diffusion_gemma import (
        DiffusionGemmaConfig,
        DiffusionGemmaForBlockDiffusion,
    )

    text = {**(FULL if size == "full" else TINY), "pad_token_id": 0, "eos_token_id": 1}
    config = DiffusionGemmaConfig(text_config=text, vision_config=VISION, canvas_length=CANVAS)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = DiffusionGemmaForBlockDiffusion(config)
    finally:
        torch.set_default_dtype(previous)
    model.train(False)  # inference: no dropout
    return model


def time_canvas(model: Any, steps: int, batch: int, hook: bool, repeats: int) -> dict[str, Any]:
    """Median seconds for one canvas, and the denoising steps it ran."""
    import torch
    from transformers import LogitsProcessorList

    from canvascap.stages.translation.engines.in_process import _CanvasProcessor, _DraftStreamer

    device = next(model.parameters()).device
    vocab = model.config.text_config.vocab_size
    prompt = torch.randint(3, vocab, (batch, PROMPT_TOKENS), device=device)
    timings: list[float] = []
    ran: int | None = None
    for _ in range(repeats + 1):  # the first run warms up
        kwargs: dict[str, Any] = {}
        streamer = None
        if hook:
            canvas = _CanvasProcessor(None, [1], str(device))
            streamer = _DraftStreamer(_Ids(), lambda _: None, canvas, None, 0.8, [1])
            kwargs["logits_processor"] = LogitsProcessorList([canvas])
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        with torch.inference_mode():
            model.generate(
                prompt,
                attention_mask=torch.ones_like(prompt),
                max_new_tokens=CANVAS,
                max_denoising_steps=steps,
                eos_token_id=[1],
                streamer=streamer,
                **kwargs,
            )
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - began)
        ran = streamer.drafts if streamer is not None else None
    return {"seconds": statistics.median(timings[1:]), "steps_run": ran}


class _Ids:
    """Decodes token ids to nothing: the draft hook's cost without a tokenizer."""

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        return ""


def translate_end_to_end(model_dir: str, device: str) -> dict[str, Any]:
    """The translate stage on a (tiny) model: 30 finals, es/de/ja, cleanup on."""
    from canvascap.pipeline.stage import Context
    from canvascap.pipeline.testing import run_stage
    from canvascap.pipeline.types import Caption
    from canvascap.stages.translation.asking import make_backend
    from canvascap.stages.translation.engines.backend import Completion
    from canvascap.stages.translation.stage import TranslateOptions, TranslateStage

    options = TranslateOptions(
        backend="transformers",
        model=model_dir,
        device="cuda" if device == "cuda" else "cpu",
        targets=["es", "de", "ja"],
        cleanup=True,
        denoising_steps=16,
        timeout_s=60,
    )
    backend = make_backend(options)
    stage = TranslateStage(options, Context(session="bench"), backend=backend)
    latencies: list[float] = []
    complete = backend.complete

    async def timed(prompt: str, **kwargs: Any) -> Completion:
        began = time.perf_counter()
        try:
            return await complete(prompt, **kwargs)
        finally:
            latencies.append(time.perf_counter() - began)

    backend.complete = timed  # type: ignore[method-assign]
    words = "the meeting will start with the numbers from the last quarter".split()
    finals = [
        Caption(i, 1, True, text, text, "en", i * 2.0, i * 2.0 + 1.5, time.monotonic_ns(), 0)
        for i, text in enumerate(" ".join(words[: 4 + i % 7]) for i in range(30))
    ]
    out = asyncio.run(run_stage(stage, finals))
    return {
        "requests": len(latencies),
        "latency_s_p50": round(statistics.median(latencies), 3) if latencies else None,
        "latency_s_max": round(max(latencies), 3) if latencies else None,
        "drafts_shown": sum(1 for c in out if not c.final and c.lang != "en"),
        "lines_final": sum(1 for c in out if c.final),
    }


def main(argv: list[str] | None = None) -> None:
    """Time canvases, optionally run the stage, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--steps", default="1,8,16,24,48", help="denoising steps to time")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny-model", metavar="DIR", help="also run the translate stage")
    parser.add_argument("--out", type=Path, default=Path("diffusion-speed.md"))
    args = parser.parse_args(argv)

    began = time.perf_counter()
    model = build(args.size, args.device)
    built_s = time.perf_counter() - began
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        for steps in (int(s) for s in args.steps.split(",")):
            for hook in (False, True):
                figures = time_canvas(model, steps, batch, hook, args.repeats)
                rows.append((batch, steps, hook, figures))
                print(f"batch {batch} steps {steps} hook {hook}: {figures}", flush=True)
    del model
    lines = [
        f"# One DiffusionGemma canvas ({args.size} size, random weights, {args.device})",
        "",
        f"`python -m canvascap.bench.diffusion_speed --size {args.size} --device {args.device}`;"
        f" model built in {built_s:.0f} s; prompt {PROMPT_TOKENS} tokens, canvas {CANVAS};"
        f" median of {args.repeats} runs after one warm-up.",
        "",
        "| batch | steps | draft hook | steps run (hook) | s per canvas | tokens/s |",
        "|---:|---:|:---:|---:|---:|---:|",
    ]
    for batch, steps, hook, figures in rows:
        seconds = figures["seconds"]
        lines.append(
            f"| {batch} | {steps} | {'on' if hook else 'off'} | {figures['steps_run'] or '-'} "
            f"| {seconds:.3f} | {batch * CANVAS / seconds:.0f} |"
        )
    if args.tiny_model:
        stage = translate_end_to_end(args.tiny_model, args.device)
        lines += [
            "",
            "Translate stage, tiny model, 30 finals into es, de, ja with cleanup: "
            + ", ".join(f"{k} {v}" for k, v in stage.items()),
        ]
    lines.append(f"\nTotal {time.perf_counter() - began:.0f} s.")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
