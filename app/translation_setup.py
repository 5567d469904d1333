"""How the application adds translation to a preset: the translate stage, or Whisper's
own translation into English when no language model is asked for."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from canvascap.pipeline.config import PipelineConfig
from canvascap.pipeline.errors import UserError

if TYPE_CHECKING:
    from canvascap.stages.translation.engine import Engine
    from canvascap.stages.translation.engines.backend import LlmBackend, LlmOptions

__all__ = ["HOW_TO_START", "TranslationRequest", "start_backend", "translation_overrides"]

HOW_TO_START = (
    "start a DiffusionGemma backend: on a GPU server run "
    "'vllm serve google/diffusiongemma-26B-A4B-it' and add --llm openai "
    "--llm-url http://HOST:8000/v1, or run it in process with --llm transformers "
    "--llm-model PATH_OR_ID; or point --llm-url at any OpenAI-compatible server "
    "(llama.cpp, Ollama, LM Studio) with --llm openai"
)


@dataclass(frozen=True)
class TranslationRequest:
    """What the user asked of translation (``--translate``, ``--cleanup``, ``--llm*``)."""

    targets: list[str] = field(default_factory=list)
    cleanup: bool = False
    backend: dict[str, object] = field(default_factory=dict)
    """The backend's options the user set: ``backend``, ``model``, ``url``."""
    glossary: str | None = None
    model_chosen: bool = False
    """Whether the user chose a Whisper model (``--model``)."""
    spoken: str | None = None
    """The spoken languages the user gave (``--lang``), if any."""

    @property
    def wanted(self) -> bool:
        """Whether anything of translation was asked for."""
        return bool(self.targets or self.cleanup or self.backend)


def translation_overrides(request: TranslationRequest, preset: PipelineConfig) -> list[str]:
    """Overrides that add or configure the translate stage, or use Whisper's translation."""
    if not request.wanted:
        return []
    has_stage = "translate" in preset.stages
    if request.backend or has_stage:
        options = dict(request.backend)
        if request.targets:
            options["targets"] = request.targets
        if request.cleanup:
            options["cleanup"] = True
        if request.glossary:
            options["glossary"] = request.glossary
        if has_stage:
            return [f"translate.{key}={json.dumps(value)}" for key, value in options.items()]
        stage = {"use": "translate.captions", "inbox": {"size": 16, "policy": "coalesce"}}
        return [f"stages.translate={json.dumps({**stage, 'options': options})}"]
    if request.targets == ["en"] and not request.cleanup:
        # No LLM: Whisper's own speech translation into English, multilingual model.
        overrides = ["asr.task=translate"]
        model = preset.stages["asr"].options.get("model", "tiny.en")
        if not request.model_chosen and model.endswith(".en"):
            overrides += ["asr.model=base", "asr.language=auto"]
        return overrides
    if request.cleanup:
        raise UserError(f"--cleanup needs a language model: {HOW_TO_START}")
    # No language model asked for: Marian models on this machine's CPU, one per pair.
    language = request.spoken or str(preset.stages["asr"].options.get("language", "en"))
    sources = [lang.strip() for lang in language.split(",") if lang.strip() not in ("", "auto")]
    options = {"engine": "ctranslate2", "targets": request.targets, "sources": sources or ["en"]}
    if request.glossary:
        options["glossary"] = request.glossary
    stage = {"use": "translate.captions", "inbox": {"size": 16, "policy": "coalesce"}}
    return [f"stages.translate={json.dumps({**stage, 'options': options})}"]


async def start_backend(backend: LlmBackend | Engine, options: LlmOptions) -> None:
    """Start a backend for a one-off command; unreachable is a one-line error."""
    try:
        await backend.start()
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - report any failure to connect
        where = f" at {options.url}" if options.backend == "openai" else ""
        raise UserError(
            f"the {options.backend} backend is not reachable{where}: {error}; {HOW_TO_START}"
        ) from None
