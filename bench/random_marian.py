"""Random Marian translation models in CTranslate2's format: tiny ones for tests, and
ones the size of OPUS-MT's for the CPU translation bench.

The real path: a sentencepiece model per side, transformers' ``MarianConfig`` and
``MarianMTModel`` with random weights, then ``ct2-transformers-converter --copy_files
source.spm target.spm`` - the same folder a converted OPUS-MT model makes. Random
weights give garbage text: tests assert the plumbing, never the wording. At OPUS-MT's
size (6 + 6 layers of 512, 58,101 tokens, int8) a model costs what a real one costs
per token; it writes up to the decoding limit where a real one stops at the sentence's
end, so its figures are an upper bound.

    python -m canvascap.bench.random_marian DIR MANIFEST.tsv en-es en-fr en-de

(OPUS-MT's size; the manifest's reference texts train the vocabulary, so its sentences
split into about as many tokens as OPUS-MT's vocabulary would give.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CORPUS = [
    "good morning everyone",
    "thank you for joining the call today",
    "we will look at the numbers from last quarter",
    "and so my fellow americans ask not what your country can do for you",
]


OPUS_MT: dict[str, Any] = {
    "d_model": 512, "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 8,
    "decoder_attention_heads": 8, "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048,
    "max_position_embeddings": 512,
}  # fmt: skip
"""OPUS-MT's transformer (Helsinki-NLP/opus-mt-en-es's config)."""
OPUS_MT_VOCAB = 58_101
TINY: dict[str, Any] = {
    "d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2,
    "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
    "max_position_embeddings": 128,
}  # fmt: skip


EOS_BIAS = 1.3
"""Added to a full-size model's end-of-sentence logit, so that random weights stop after
about as many tokens as a translation has: with a vocabulary trained on the bench's own
sentences (38 tokens at the median), 1.2 gave a median of 55 output tokens, 1.4 gave 28."""


def build_pair(
    models: Path,
    pair: str = "en-es",
    seed: int = 0,
    full_size: bool = False,
    corpus_lines: list[str] | None = None,
    eos_bias: float | None = None,
) -> Path:
    """``models/pair``: a converted model, tiny (a few seconds on two cores) or the size
    of OPUS-MT's (``full_size``: about a minute, 80 MB in int8)."""
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    work = models.parent / f"{models.name}-build-{pair}"
    vocab = _vocabularies(work, corpus_lines, full_size)
    tokenizer = MarianTokenizer(
        str(work / "source.spm"), str(work / "target.spm"), str(vocab),
        eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
    )  # fmt: skip
    size = len(tokenizer.get_vocab())
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=size, pad_token_id=size - 1, eos_token_id=0,
        decoder_start_token_id=size - 1, forced_eos_token_id=0,
        **(OPUS_MT if full_size else TINY),
    )  # fmt: skip
    hf = work / "hf"
    model = MarianMTModel(config)
    if eos_bias is None:
        eos_bias = EOS_BIAS if full_size else 0.0
    if eos_bias:
        with torch.no_grad():
            model.final_logits_bias[0, 0] = eos_bias  # id 0 is </s>
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    target = models / pair
    subprocess.run(
        [str(Path(sys.executable).parent / "ct2-transformers-converter"), "--model", str(hf),
         "--output_dir", str(target),
         "--copy_files", "source.spm", "target.spm", "--force",
         *(["--quantization", "int8"] if full_size else [])],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def _vocabularies(work: Path, corpus_lines: list[str] | None, full_size: bool) -> Path:
    """A sentencepiece model per side in ``work``, and Marian's ``vocab.json`` of both."""
    import sentencepiece as spm

    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines or CORPUS * 20), encoding="utf-8")
    for side in ("source", "target"):
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(work / side),
            vocab_size=8000 if corpus_lines else 40, hard_vocab_limit=False,
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
    if full_size:  # unused pieces up to OPUS-MT's vocabulary, for its output layer's cost
        pieces += [f"\u2581w{index}" for index in range(OPUS_MT_VOCAB - 1 - len(pieces))]
    pieces.append("<pad>")  # last, as in Marian's own vocabularies
    vocab = work / "vocab.json"
    vocab.write_text(json.dumps({piece: i for i, piece in enumerate(pieces)}), encoding="utf-8")
    return vocab


def _references(manifest: Path) -> list[str]:
    import csv

    with manifest.open(encoding="utf-8", newline="") as handle:
        return [row["reference"] for row in csv.DictReader(handle, delimiter="\t")]


if __name__ == "__main__":
    lines = _references(Path(sys.argv[2]))
    for name in sys.argv[3:]:
        print(build_pair(Path(sys.argv[1]), name, full_size=True, corpus_lines=lines))
