"""What an OpenAI-compatible server is, from what it says about itself, and what each
kind takes to hold an answer's form.

Every such server lists its models at ``GET /v1/models``, and most say who serves them
in ``owned_by``: ``llamacpp`` (llama.cpp's server), ``vllm``, ``library`` (Ollama),
``organization_owner`` (LM Studio). llama.cpp also answers ``GET /props``. The kind
decides how a line's form is held:

* llama.cpp: a GBNF ``grammar``;
* vLLM: ``structured_outputs.regex`` (an ordinary model; DiffusionGemma refuses it);
* Ollama and LM Studio: ``response_format`` with a JSON schema of one string;
* anything else: nothing, and the answer is only cleaned.

Pure: the probe in ``chat_server`` hands the payloads over.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from canvascap.stages.translation.chat_lines import CLEAN_LINE_GBNF, CLEAN_LINE_REGEX

__all__ = ["ServerKind", "answer_text", "constraint", "identify", "is_diffusion_model"]

Kind = Literal["llama.cpp", "vllm", "ollama", "lmstudio", "unknown"]

_OWNERS: dict[str, Kind] = {
    "llamacpp": "llama.cpp",
    "vllm": "vllm",
    "library": "ollama",
    "ollama": "ollama",
    "organization_owner": "lmstudio",
}


@dataclass(frozen=True)
class ServerKind:
    """A server as canvascap sees it."""

    kind: Kind
    models: tuple[str, ...]
    slots: int = 1
    """Requests it runs at once (llama.cpp says, in ``/props``); more would only queue."""


def identify(models_payload: Any, props: Any = None) -> ServerKind:
    """The kind from ``/v1/models`` (and llama.cpp's ``/props``, where it answered)."""
    data = models_payload.get("data", []) if isinstance(models_payload, dict) else []
    models = tuple(str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id"))
    owners = {str(m.get("owned_by", "")).lower() for m in data if isinstance(m, dict)}
    kind: Kind = "unknown"
    for owner in owners:
        kind = _OWNERS.get(owner, kind)
    slots = 1
    if isinstance(props, dict) and "default_generation_settings" in props:
        kind = "llama.cpp"
        total = props.get("total_slots")
        slots = total if isinstance(total, int) and total > 0 else 1
    return ServerKind(kind, models, slots)


def is_diffusion_model(name: str) -> bool:
    """Whether a served model is DiffusionGemma (or another block-diffusion model)."""
    return re.search(r"diffusion", name, re.I) is not None


def constraint(kind: Kind) -> dict[str, Any]:
    """Request fields that hold the answer to one clean line, for this kind."""
    if kind == "llama.cpp":
        return {"grammar": CLEAN_LINE_GBNF}
    if kind == "vllm":
        return {"structured_outputs": {"regex": CLEAN_LINE_REGEX}}
    if kind in ("ollama", "lmstudio"):
        schema = {"type": "string", "pattern": "^" + CLEAN_LINE_REGEX + "$"}
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "caption_line", "schema": schema, "strict": True},
            }
        }
    return {}


def answer_text(kind: Kind, content: str) -> str:
    """The line inside an answer: a JSON-schema answer is a JSON string."""
    if kind in ("ollama", "lmstudio"):
        try:
            value = json.loads(content)
        except ValueError:
            return content
        return value if isinstance(value, str) else content
    return content
