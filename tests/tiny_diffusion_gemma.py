"""A tiny, randomly initialised DiffusionGemma built from the real config class.

The real model (26B) cannot run here; this one runs the real transformers classes on
the CPU in a fraction of a second per step. Its small byte-level BPE tokenizer is
trained on the test data's reference transcripts and a few sentences in other
languages, so that the vocabulary (and so each step) stays small.
Random weights write garbage: tests of this model assert plumbing, never wording.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import manifest

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


SENTENCES = [
    "Buenos días a todos, y gracias por venir a la reunión de hoy.",
    "Primero veremos las cifras del último trimestre.",
    "Guten Morgen allerseits, und danke, dass Sie heute dabei sind.",
    "Zuerst schauen wir uns die Zahlen des letzten Quartals an.",
    "Bonjour à tous, et merci d'être venus à la réunion aujourd'hui.",
    "Nous verrons d'abord les chiffres du dernier trimestre.",
    "皆さん、おはようございます。今日は会議に参加していただきありがとうございます。",
    "まず、前四半期の数字を見てみましょう。",
]


def corpus() -> list[str]:
    """Text to train the tiny tokenizer on: the test data's reference transcripts, and
    a few sentences in the languages the translation tests ask for."""
    return [clip.reference for clip in manifest() if clip.reference] + SENTENCES


def build(folder: Path, corpus: list[str], vocab_size: int = 2048) -> Path:
    """Save a tiny model and its tokenizer in ``folder``; return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.diffusion_gemma import (
        DiffusionGemmaConfig,
        DiffusionGemmaForBlockDiffusion,
    )

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = DiffusionGemmaConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=32,
            layer_types=["sliding_attention", "full_attention"],
            num_experts=4,
            top_k_experts=2,
            moe_intermediate_size=64,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=2,
            global_head_dim=32,
            num_global_key_value_heads=1,
        ),
        vision_config=dict(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            patch_size=4,
            pooling_kernel_size=2,
        ),
        canvas_length=256,
    )
    torch.manual_seed(0)
    DiffusionGemmaForBlockDiffusion(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
