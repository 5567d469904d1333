"""Pipeline configuration: YAML presets plus ``--set key=value`` overrides.

A preset names its stages in order (the first one is the source) and the sinks that all
receive the last stage's output. Each stage's own options are validated by the stage's
``Options`` model when the pipeline is built, so an error names the full key path, for
example ``stages.asr.options.beam_size``.

Overrides use dotted paths. ``stages.asr.options.beam_size=3`` is the full form; when the
first part names a stage or sink, the short form ``asr.beam_size=3`` means the same.
Values are read as YAML, so ``true``, ``3`` and ``[a, b]`` get their natural types.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from canvascap.pipeline.channel import Policy
from canvascap.pipeline.errors import UserError

__all__ = [
    "InboxSpec",
    "PipelineConfig",
    "StageSpec",
    "apply_overrides",
    "format_validation_error",
    "load_config",
    "preset_names",
    "preset_path",
]


class InboxSpec(BaseModel):
    """Size and overflow policy of the channel that feeds a stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(8, ge=1)
    policy: Policy = Policy.COALESCE


class StageSpec(BaseModel):
    """One stage: which implementation to use, its inbox and its options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    use: str
    inbox: InboxSpec = Field(default_factory=InboxSpec)
    options: dict[str, Any] = Field(default_factory=dict)


class PipelineConfig(BaseModel):
    """A whole pipeline: stages in order, then sinks fed in parallel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shutdown_timeout_s: float = Field(10.0, gt=0)
    display: dict[str, Any] = Field(default_factory=dict)
    """What is done to captions before people see them (``--profanity mask``); the
    application validates it (``canvascap.captions.profanity.DisplayOptions``)."""
    stages: dict[str, StageSpec]
    sinks: dict[str, StageSpec] = Field(default_factory=dict)


def preset_path(name: str) -> Path:
    """Path of a preset shipped in ``configs/`` (``default``, ``multilingual``, ...)."""
    return Path(str(resources.files("canvascap.configs").joinpath(f"{name}.yaml")))


def preset_names() -> list[str]:
    """The presets shipped in ``configs/``, by name."""
    folder = resources.files("canvascap.configs")
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> PipelineConfig:
    """Read a preset (the default one if no path) and apply ``key=value`` overrides.

    ``path`` may also name a shipped preset (``vllm``, ``gpu``, ...). A file may start
    from another preset with ``extends: NAME_OR_PATH`` and change only what differs.
    """
    raw = apply_overrides(_read(path), overrides or [])
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as error:
        raise UserError(format_validation_error(error, prefix="")) from None


def _read(path: str | Path | None, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    source = _locate(path)
    if source in seen:
        raise UserError(f"config file {source} extends itself in a loop")
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"config file not found: {source}: give --config a YAML file or a preset "
            f"({', '.join(preset_names())})"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read config file {source}: {error}") from None
    except RecursionError:
        raise UserError(f"config file {source} is nested too deeply: flatten it") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise UserError(f"config file {source} is not valid YAML{at}: fix its syntax") from None
    if not isinstance(raw, dict):
        raise UserError(f"config file {source} must hold a mapping with a 'stages' key")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    return _merge(_read(base, (*seen, source)), raw)


def _locate(path: str | Path | None) -> Path:
    if not path:
        return preset_path("default")
    candidate = Path(path)
    if not candidate.exists() and candidate.suffix == "" and "/" not in str(path):
        shipped = preset_path(str(path))
        if shipped.exists():
            return shipped
    return candidate


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; new keys (stages too) go after the base's ones."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``dotted.key=value`` applied."""
    result = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects KEY=VALUE, got '{item}' (e.g. --set asr.beam_size=3)")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        _assign(result, _expand(result, key.strip().split(".")), value, key)
    return result


def _expand(raw: dict[str, Any], parts: list[str]) -> list[str]:
    """Turn the short form ``asr.beam_size`` into ``stages.asr.options.beam_size``."""
    head = parts[0]
    for group in ("stages", "sinks"):
        if head in (raw.get(group) or {}) and head not in raw:
            rest = parts[1:]
            if rest and rest[0] not in ("use", "inbox", "options"):
                rest = ["options", *rest]
            return [group, head, *rest]
    return parts


def _assign(tree: dict[str, Any], parts: list[str], value: Any, original: str) -> None:
    node: Any = tree
    for part in parts[:-1]:
        if not isinstance(node, dict):
            raise UserError(f"--set {original}: '{part}' is not a section of the config")
        node = node.setdefault(part, {})
        if node is None:
            node = {}
    if not isinstance(node, dict):
        raise UserError(f"--set {original}: cannot set a key inside a plain value")
    node[parts[-1]] = value


def format_validation_error(error: ValidationError, prefix: str) -> str:
    """One line per problem, each naming the full key path."""
    lines = []
    for problem in error.errors():
        path = ".".join(str(part) for part in (prefix, *problem["loc"]) if part != "")
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check the spelling, or see the preset files for valid keys)"
        lines.append(f"invalid config: {path or '(top level)'}: {message}")
    return "; ".join(lines)
