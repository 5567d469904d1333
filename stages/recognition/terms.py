"""The glossary in recognition: finals that may hold a term heard wrong are decoded again
expecting the terms, and near-misspellings are set to the term.

Prompting every decode with the terms changes unrelated finals, so only a final whose
words look like a term heard wrong (``TermFixer.suspects``) is decoded again with the
terms as the prompt, and the decode Whisper is surer of (average log-probability) is
kept. Then words that spell a term nearly right are replaced, and each term's uses and
fixes are counted for the control page. Blocking (it decodes): the recogniser stage
runs it in its worker thread.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

import numpy as np

from canvascap.pipeline.metrics import Metrics
from canvascap.pipeline.types import Caption
from canvascap.stages.glossary import Glossary, TermFixer, recognition_prompt
from canvascap.stages.recognition.gate import Transcript
from canvascap.stages.recognition.transcriber import Transcriber

__all__ = ["GlossaryTerms"]


class GlossaryTerms:
    """One session's glossary, as recognition uses it."""

    def __init__(
        self, glossary: Glossary, transcriber: Transcriber, similarity: float, metrics: Metrics
    ) -> None:
        self.terms = glossary.terms
        self.prompt = recognition_prompt(glossary)
        self.fixer = TermFixer(self.terms, transcriber.is_common_word, similarity)
        self.metrics = metrics

    def redecode(
        self,
        transcriber: Transcriber,
        audio: np.ndarray,
        first: Transcript,
        *,
        prompt: str,
        prefix: str,
        language: str | None,
    ) -> Transcript:
        """``first``, or a decode that expected the terms when Whisper is surer of it."""
        if not self.fixer.suspects(first.text):
            return first
        expecting = transcriber.transcribe(
            audio,
            prompt=f"{self.prompt} {prompt}".strip(),
            prefix=prefix,
            final=True,
            language=language,
        )
        if expecting.avg_logprob >= first.avg_logprob:
            self.metrics.count("asr.glossary_decodes")
            return expecting
        return first

    def fix(self, caption: Caption) -> Caption:
        """``caption`` with glossary terms set right; finals count each term used."""
        if not caption.text:
            return caption
        text, fixed = self.fixer.fix(caption.text)
        if caption.final:
            self._count(text, fixed)
        if not fixed:
            return caption
        stable = caption.stable_chars
        if stable:
            head = self.fixer.fix(caption.text[:stable])[0]
            stable = len(head) if text.startswith(head) else len(os.path.commonprefix([head, text]))
        return replace(caption, text=text, source=text, stable_chars=stable)

    def _count(self, text: str, fixed: list[str]) -> None:
        for term in fixed:
            self.metrics.count(f"glossary.fixed.{term}")
        for term in self.terms:
            uses = len(re.findall(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE))
            if uses:
                self.metrics.count(f"glossary.used.{term}", uses)
