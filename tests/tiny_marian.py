"""A tiny random Marian translation model in CTranslate2's format, built in a test.

The real path: a sentencepiece model per side, transformers' ``MarianConfig`` and
``MarianMTModel`` with random weights, then ``ct2-transformers-converter --copy_files
source.spm target.spm`` - the same folder a converted OPUS-MT model makes. Random
weights give garbage text: tests assert the plumbing, never the wording.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CORPUS = [
    "good morning everyone",
    "thank you for joining the call today",
    "we will look at the numbers from last quarter",
    "and so my fellow americans ask not what your country can do for you",
]


def build_pair(models: Path, pair: str = "en-es", seed: int = 0) -> Path:
    """``models/pair``: a converted tiny model (a few seconds on two cores)."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    work = models.parent / f"{models.name}-build-{pair}"
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 20), encoding="utf-8")
    for side in ("source", "target"):
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(work / side), vocab_size=40,
            model_type="unigram", character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=2,
            pad_id=-1, minloglevel=2,
        )  # fmt: skip
        (work / f"{side}.model").rename(work / f"{side}.spm")
    pieces = ["</s>", "<unk>"]
    for side in ("source", "target"):
        processor = spm.SentencePieceProcessor(model_file=str(work / f"{side}.spm"))
        for index in range(processor.get_piece_size()):
            piece = processor.id_to_piece(index)
            if piece not in pieces:
                pieces.append(piece)
    pieces.append("<pad>")  # last, as in Marian's own vocabularies
    vocab = work / "vocab.json"
    vocab.write_text(json.dumps({piece: i for i, piece in enumerate(pieces)}), encoding="utf-8")
    tokenizer = MarianTokenizer(
        str(work / "source.spm"), str(work / "target.spm"), str(vocab),
        eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
    )  # fmt: skip
    size = len(tokenizer.get_vocab())
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=size, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=128, pad_token_id=size - 1,
        eos_token_id=0, decoder_start_token_id=size - 1, forced_eos_token_id=0,
    )  # fmt: skip
    hf = work / "hf"
    MarianMTModel(config).save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    target = models / pair
    subprocess.run(
        [str(Path(sys.executable).parent / "ct2-transformers-converter"), "--model", str(hf),
         "--output_dir", str(target),
         "--copy_files", "source.spm", "target.spm", "--force"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target
