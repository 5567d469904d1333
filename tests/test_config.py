"""Presets, --set overrides, and error messages that name the key path."""

from __future__ import annotations

import pytest

from canvascap.pipeline.config import load_config, preset_path
from canvascap.pipeline.errors import UserError
from canvascap.pipeline.runner import Pipeline
from canvascap.pipeline.stage import Context


def test_presets_ship_and_validate() -> None:
    for name in ("default", "multilingual"):
        config = load_config(preset_path(name))
        assert list(config.stages) == ["source", "vad", "asr"]
        assert config.stages["vad"].inbox.policy == "drop_oldest"


def test_short_and_full_override_forms_are_the_same() -> None:
    short = load_config(None, ["asr.beam_size=3", "vad.hangover_ms=400"])
    full = load_config(
        None, ["stages.asr.options.beam_size=3", "stages.vad.options.hangover_ms=400"]
    )
    assert short == full
    assert short.stages["asr"].options["beam_size"] == 3


def test_override_keeps_stage_order() -> None:
    config = load_config(None, ['stages.source={"use": "source.file", "options": {"path": "x"}}'])
    assert list(config.stages) == ["source", "vad", "asr"]


def test_unknown_top_level_key_is_named() -> None:
    with pytest.raises(UserError, match=r"invalid config: shutdown_timout_s: unknown key"):
        load_config(None, ["shutdown_timout_s=3"])


def test_bad_stage_option_names_its_path_when_built() -> None:
    config = load_config(None, ["asr.beam_size=wide"])
    with pytest.raises(UserError, match=r"stages\.asr\.options\.beam_size: .*integer"):
        Pipeline.build(config, Context(session="t"))


def test_unknown_stage_option_is_named() -> None:
    config = load_config(None, ["vad.hangover=300"])
    with pytest.raises(UserError, match=r"stages\.vad\.options\.hangover: unknown key"):
        Pipeline.build(config, Context(session="t"))


def test_malformed_set_and_missing_file_explain_the_fix(tmp_path) -> None:
    with pytest.raises(UserError, match="KEY=VALUE"):
        load_config(None, ["asr.beam_size"])
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(broken)


def test_a_config_nested_thousands_deep_is_one_line_error(tmp_path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("stages: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(UserError, match="nested too deeply"):
        load_config(deep)


@pytest.mark.parametrize("preset", ["vllm", "vllm-fp8", "vllm-nvfp4"])
def test_the_vllm_presets_serve_line_uses_the_models_published_sampler(preset: str) -> None:
    # Users copy this line to start their server; without these flags vLLM runs a fixed
    # step count and the checkpoint's own sampler settings are ignored.
    import json
    import shlex

    text = preset_path(preset).read_text(encoding="utf-8")
    start = text.index("vllm serve")
    line = " ".join(
        part.lstrip("#").strip().rstrip("\\")
        for part in text[start:].split("# then:")[0].split("\n")
    )
    args = shlex.split(line)
    assert args[args.index("--generation-config") + 1] == "vllm"
    overrides = json.loads(args[args.index("--hf-overrides") + 1])
    assert overrides == {"diffusion_sampler": "entropy_bound", "diffusion_entropy_bound": 0.1}
    assert args[args.index("--attention-backend") + 1] == "TRITON_ATTN"
    assert json.loads(args[args.index("--diffusion-config") + 1])["canvas_length"] == 256
    assert args[args.index("--max-num-seqs") + 1] == "4"
    # The preset asks for the model the line serves.
    served = args[args.index("serve") + 1]
    assert load_config(preset_path(preset)).stages["translate"].options["model"] == served
