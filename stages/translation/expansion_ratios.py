"""How many tokens a translation takes for each source token, by target language.

Measured with the Gemma tokenizer (the same vocabulary as DiffusionGemma's) on the 300
NTREX-128 news sentences of the development data, English to each language
(``python -m canvascap.bench.expansion ../shared/data/mt`` writes these figures): the
ratio of the translation's tokens to the English sentence's, at the median and at the
90th percentile. A canvas slot is sized at the 90th percentile, so nine lines in ten
fit; languages not measured get ``DEFAULT_P90``, above every measured one.
"""

from __future__ import annotations

__all__ = ["DEFAULT_P90", "RATIOS", "ratio_p90"]

RATIOS: dict[str, tuple[float, float]] = {
    # language: (median, 90th percentile)
    "de": (1.327, 1.677),
    "es": (1.261, 1.561),
    "fr": (1.412, 1.846),
    "ja": (1.143, 1.455),
    "zh": (1.130, 1.438),
}

DEFAULT_P90 = 1.9


def ratio_p90(lang: str) -> float:
    """The 90th-percentile expansion into ``lang`` (``pt-BR`` is read as ``pt``)."""
    measured = RATIOS.get(lang.split("-")[0].lower())
    return measured[1] if measured else DEFAULT_P90
