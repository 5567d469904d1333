"""``asr.faster_whisper``: the recogniser stage on faster-whisper (CTranslate2).

The only module that imports ``faster_whisper``. Every call materialises the lazy
segment generator inside the worker thread, so no decoding ever runs on the event loop.
Segmentation is already done by the VAD stage, so faster-whisper's own VAD is off; its
bundled Silero model is used only to measure how much of a snapshot is speech, one of
the speech gate's signals.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from canvascap.captions.audio import SAMPLE_RATE
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.stage import Context
from canvascap.pipeline.types import Word
from canvascap.stages.recognition.asr import AsrOptions, AsrStage, Transcript
from canvascap.stages.recognition.languages import parse_languages
from canvascap.stages.recognition.translated import translation_lang
from canvascap.stages.recognition.whisper_models import EMBEDDED, resolve_model

__all__ = ["FasterWhisperAsr", "FasterWhisperOptions", "FasterWhisperTranscriber", "encoder_frames"]

log = logging.getLogger(__name__)


class FasterWhisperOptions(AsrOptions):
    """Options of ``asr.faster_whisper``."""

    model: str = "tiny.en"
    """``tiny.en`` or ``base`` (built in), any faster-whisper model name, or a folder."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    """``auto`` means int8 on CPU and float16 on CUDA; any CTranslate2 type works."""
    cpu_threads: int = Field(0, ge=0)
    """0 uses every core. With tiny.en on a small CPU one thread is as fast per decode
    and costs less CPU: the matrices are too small to share out."""
    task: Literal["transcribe", "translate"] = "transcribe"
    """``translate`` gives Whisper's own speech translation into English."""
    beam_size: int = Field(5, ge=1)
    """Beam for finals."""
    beam_size_partial: int = Field(1, ge=1)
    """Beam for partials, which must be cheap."""
    word_timestamps: bool = False
    """Time every word of a final (for the JSON transcript and subtitle cue splits).
    Costs an alignment pass per final; off, a caption's words are spread over its span."""
    temperatures: list[float] = Field(default_factory=lambda: [0.0])
    """Fallback temperatures; more than one costs extra decodes on hard audio."""
    short_context: Literal["off", "partials", "all"] = "all"
    """Encode only the audio plus 2 s (at least 10 s) instead of Whisper's padded 30 s
    window: a third of the cost of a final decode. With timestamp tokens off in the short
    window, finals are as accurate as over the full one (WER on the bench: equal to
    offline faster-whisper)."""

    @field_validator("short_context", mode="before")
    @classmethod
    def _bare_off(cls, value: object) -> object:
        """YAML (and so ``--set asr.short_context=off``) reads a bare off as false."""
        return "off" if value is False else value


class FasterWhisperTranscriber:
    """A ``Transcriber`` over one loaded faster-whisper model."""

    def __init__(self, options: FasterWhisperOptions) -> None:
        from threadpoolctl import threadpool_limits

        # numpy's BLAS threads spin between the small matrix products of the mel
        # features; one thread cuts a partial's CPU cost by about a third on two cores.
        threadpool_limits(limits=1, user_api="blas")
        self.options = options
        self.model = _load(options)
        self._scores = _TokenScores(self.model.model)
        self.model.model = self._scores
        self.multilingual = bool(self.model.model.is_multilingual)
        self._told_untranslated = False
        self._check_language()

    def transcribe(
        self, audio: np.ndarray, *, prompt: str, prefix: str, final: bool, language: str | None
    ) -> Transcript:
        """Decode one snapshot; blocking, call from a worker thread."""
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        opts = self.options
        if not self.multilingual:
            language = "en"
        self.model.encoder_frames = None
        if opts.short_context == "all" or (opts.short_context == "partials" and not final):
            self.model.encoder_frames = encoder_frames(len(audio) / SAMPLE_RATE)
        # Timestamp tokens help in the padded 30 s window (fewer invented words in noisy
        # tails); in a short window they make Whisper carry on into the padding.
        timestamps = final and self.model.encoder_frames is None
        beam_size = opts.beam_size if final else opts.beam_size_partial
        gated = opts.commit_confidence > 0 or opts.commit_sure > 0
        self._scores.enabled = not final and beam_size == 1 and gated
        segments, info = self.model.transcribe(
            audio,
            language=language,
            task=opts.task,
            beam_size=beam_size,
            temperature=opts.temperatures,
            initial_prompt=prompt or None,
            prefix=prefix or None,
            word_timestamps=final and opts.word_timestamps,
            without_timestamps=not timestamps,
            condition_on_previous_text=False,
            vad_filter=False,
            # Bounds the cost of a repetition loop on noise; speech rarely tops 5 tokens/s.
            max_new_tokens=int(len(audio) / SAMPLE_RATE * 8) + 16,
        )
        found = list(segments)  # materialise here, in the worker thread
        speech = get_speech_timestamps(audio, VadOptions())
        speech_s = sum(span["end"] - span["start"] for span in speech) / SAMPLE_RATE
        # With a prefix, faster-whisper's text already starts with it.
        text = " ".join(segment.text.strip() for segment in found).strip()
        words = tuple(
            Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
            for segment in found
            for w in (segment.words or ())
        )
        tokens = sum(len(segment.tokens) for segment in found) or 1
        return Transcript(
            text=text,
            lang=self._translated_lang(text, info.language)
            if opts.task == "translate"
            else info.language,
            words=words,
            no_speech_prob=max((s.no_speech_prob for s in found), default=1.0),
            avg_logprob=sum(s.avg_logprob * len(s.tokens) for s in found) / tokens,
            compression_ratio=max((s.compression_ratio for s in found), default=1.0),
            speech_s=speech_s,
            word_probability=sum(w.probability for w in words) / len(words) if words else 1.0,
            word_confidence=self._word_confidence(found, text),
        )

    def _translated_lang(self, text: str, heard: str) -> str:
        """``en`` for a real translation; the heard language, said once, for text that
        Whisper wrote down as heard instead of translating."""
        lang = translation_lang(text, heard)
        if lang != "en" and not self._told_untranslated:
            self._told_untranslated = True
            log.warning(
                "Whisper %s wrote %s speech down as heard instead of translating it into "
                "English; such captions are labelled '%s'. A larger model (--model small) "
                "translates more reliably",
                self.options.model,
                heard,
                lang,
            )
        return lang

    def detect_language(self, audio: np.ndarray) -> list[tuple[str, float]]:
        """Whisper's probability for each language it knows (blocking).

        An English-only model knows one. The encoder sees the same short window as a
        decode, so detection costs one encoder pass of the snapshot."""
        if not self.multilingual:
            return [("en", 1.0)]
        frames = encoder_frames(len(audio) / SAMPLE_RATE)
        self.model.encoder_frames = frames if self.options.short_context != "off" else None
        _, _, probabilities = self.model.detect_language(audio)
        return [(str(code), float(p)) for code, p in probabilities]

    def is_common_word(self, word: str) -> bool:
        """Whether ``word`` is one token of Whisper's vocabulary after a space: its
        byte-pair vocabulary holds the everyday words of its training text whole, and
        splits rare names and terms."""
        if not word:
            return True
        pieces = self.model.hf_tokenizer.encode(" " + word, add_special_tokens=False).ids
        return len(pieces) == 1

    def _word_confidence(self, found: list[Any], text: str) -> tuple[float, ...]:
        """Each word's least token probability, if the decode reported them."""
        scores = self._scores.last
        if scores is None or len(found) != 1:
            return ()
        tokenizer = self.model.hf_tokenizer
        words: list[float] = []
        for token, probability in zip(found[0].tokens, scores, strict=False):
            piece = tokenizer.id_to_token(token) or ""
            if piece.startswith("\u0120") or not words:  # byte-level BPE's leading space
                words.append(probability)
            else:
                words[-1] = min(words[-1], probability)
        return tuple(words) if len(words) == len(text.split()) else ()

    def _check_language(self) -> None:
        opts = self.options
        wanted = parse_languages(opts.language) or ()
        if self.multilingual:
            known = set(self.model.supported_languages)
            unknown = [code for code in wanted if code not in known]
            if unknown or (opts.language != "auto" and not wanted):
                raise UserError(
                    f"unknown language '{','.join(unknown) or opts.language}' in --lang: "
                    "use Whisper's codes, e.g. --lang en, --lang en,fr or --lang auto"
                )
            return
        if opts.task == "translate":
            raise UserError(
                f"model {opts.model} is English-only and cannot translate: "
                "use --model base (multilingual) with --task translate"
            )
        if opts.language != "auto" and set(wanted) != {"en"}:
            raise UserError(
                f"model {opts.model} is English-only and cannot transcribe "
                f"'{opts.language}': use --model base, or --lang en"
            )


class FasterWhisperAsr(AsrStage):
    """The ``asr.faster_whisper`` stage: loads the model in ``prepare()``."""

    Options = FasterWhisperOptions

    def __init__(self, options: FasterWhisperOptions, ctx: Context) -> None:
        super().__init__(options, ctx, transcriber=None)
        self._model_options = options

    async def prepare(self) -> None:
        """Load (and warm up) the model in the stage's worker thread."""
        self.transcriber = await asyncio.get_running_loop().run_in_executor(
            self._executor, _load_and_warm, self._model_options
        )
        await super().prepare()


ENCODER_STEP_FRAMES = 50
"""Short windows come in steps of half a second (50 mel frames). CTranslate2's oneDNN
keeps compiled kernels per input shape; one shape per 10 ms of audio made memory grow
by about 30 MB an hour of speech (``canvascap bench --soak``), a few dozen shapes
keep it flat, for at most half a second more audio to encode."""


def encoder_frames(audio_s: float) -> int:
    """Mel frames the encoder sees for a snapshot: the audio plus 2 s, at least 10 s
    (with less Whisper loops), in half-second steps, at most Whisper's 30 s."""
    wanted = int(np.ceil((audio_s + 2.0) * 100 / ENCODER_STEP_FRAMES)) * ENCODER_STEP_FRAMES
    return min(3000, max(1000, wanted))


def _load_and_warm(options: FasterWhisperOptions) -> FasterWhisperTranscriber:
    transcriber = FasterWhisperTranscriber(options)
    silence = np.zeros(SAMPLE_RATE, dtype=np.float32)
    transcriber.transcribe(
        silence,
        prompt="",
        prefix="",
        final=False,
        language=(parse_languages(options.language) or ("en",))[0],
    )
    return transcriber


def _load(options: FasterWhisperOptions) -> Any:  # faster_whisper is untyped
    import ctranslate2
    from faster_whisper import WhisperModel, available_models

    device = options.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    compute_type = options.compute_type
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    location = resolve_model(options.model)
    is_local = os.path.isdir(location)
    if not is_local and "/" not in location and location not in available_models():
        names = ", ".join([*EMBEDDED, *sorted(set(available_models()) - set(EMBEDDED))])
        raise UserError(f"unknown model '{options.model}': use one of {names}, or a model folder")
    if not is_local:
        location = _download(options.model, location)
    try:
        return _short_context_class(WhisperModel)(
            location, device=device, compute_type=compute_type, cpu_threads=options.cpu_threads
        )
    except Exception as error:
        log.debug("model load failed", exc_info=True)
        raise UserError(
            f"cannot load the model '{options.model}' ({location}) on {device} with "
            f"compute type {compute_type}: {_reason(error)}; {_load_hint(error, device)}"
        ) from None


def _download(model: str, name: str) -> str:
    """The folder of a named faster-whisper model, fetched from the hub on first use."""
    from faster_whisper.utils import download_model

    try:
        return str(download_model(name))
    except Exception as error:
        log.debug("model download failed", exc_info=True)
        raise UserError(
            f"model '{model}' is not on this machine and could not be downloaded "
            f"({type(error).__name__}): connect to the internet, or use --model tiny.en or "
            "--model base (built in), or a local CTranslate2 folder"
        ) from None


def _reason(error: Exception) -> str:
    return " ".join(str(error).split())[:200].rstrip(".") or type(error).__name__


def _load_hint(error: Exception, device: str) -> str:
    """What a user can change when a model that is on disk does not load."""
    text = str(error).lower()
    if "out of memory" in text or isinstance(error, MemoryError) or "bad_alloc" in text:
        return f"{device} memory is short: use a smaller --model, or --set asr.device=cpu"
    if "compute type" in text or "compute_type" in text:
        return "choose another with --set asr.compute_type=int8 (or float32)"
    return "check that the folder holds a CTranslate2 Whisper model (model.bin, config.json)"


class _TokenScores:
    """CTranslate2's Whisper, made to keep each token's probability of a greedy decode.

    faster-whisper reports only a sequence's average log-probability; the stable-prefix
    rule needs to know which word the model was unsure of.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        self.enabled = False
        self.supported = True
        self.last: list[float] | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def generate(self, *args: object, **kwargs: object) -> Any:
        """Decode as asked; when enabled, also keep the chosen tokens' probabilities."""
        self.last = None
        if not (self.enabled and self.supported):
            return self._model.generate(*args, **kwargs)
        try:
            results = self._model.generate(*args, return_logits_vocab=True, **kwargs)
        except TypeError:  # a CTranslate2 without token scores: agreement alone decides
            self.supported = False
            return self._model.generate(*args, **kwargs)
        result = results[0]
        self.last = [
            _softmax_at(np.asarray(logits, dtype=np.float64), token)
            for token, logits in zip(result.sequences_ids[0], result.logits[0], strict=False)
        ]
        return results


def _softmax_at(logits: np.ndarray, index: int) -> float:
    weights = np.exp(logits - logits.max())
    return float(weights[index] / weights.sum())


def _short_context_class(base: type) -> type:
    """WhisperModel whose encoder sees only ``encoder_frames`` mel frames when set.

    faster-whisper pads every window to 30 s (3000 frames) before encoding, and on a
    CPU that encoder pass is most of a short decode's cost.
    """

    class ShortContextWhisper(base):  # type: ignore[misc]
        encoder_frames: int | None = None

        def encode(self, features: Any) -> Any:
            if self.encoder_frames:
                features = features[..., : self.encoder_frames]
            return super().encode(features)

    return ShortContextWhisper
