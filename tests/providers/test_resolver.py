"""Model strings, config loading and the step > agent > default precedence."""

from __future__ import annotations

import pytest

from providers.errors import ConfigError, UnknownProvider
from providers.resolver import (
    AgentConfig,
    ModelRef,
    load_agent_config,
    load_pipeline,
    parse_model_string,
    resolve_agent,
    resolve_pipeline,
)
from providers.secret_store import GlobalDefaults


@pytest.mark.parametrize(
    ("text", "provider", "model"),
    [
        ("anthropic/claude-sonnet-4", "anthropic", "claude-sonnet-4"),
        ("openrouter/moonshotai/kimi-k2.5", "openrouter", "moonshotai/kimi-k2.5"),
        ("custom-myollama/llama3.3", "custom-myollama", "llama3.3"),
        ("groq/openai/gpt-oss-120b", "groq", "openai/gpt-oss-120b"),
        ("  openai/gpt-4o  ", "openai", "gpt-4o"),
    ],
)
def test_parse_model_string_splits_at_first_slash(text, provider, model):
    assert parse_model_string(text) == ModelRef(provider=provider, model=model)


def test_custom_ref_exposes_slug_and_round_trips_to_string():
    ref = parse_model_string("custom-myollama/llama3.3")
    assert ref.custom_slug == "myollama"
    assert str(ref) == "custom-myollama/llama3.3"
    assert parse_model_string("openai/gpt-4o").custom_slug is None


def test_unknown_provider_lists_known_ids():
    with pytest.raises(UnknownProvider) as info:
        parse_model_string("nosuch/model")
    message = str(info.value)
    assert "nosuch" in message
    for known in ("openrouter", "anthropic", "openai", "google", "huggingface", "custom-<slug>"):
        assert known in message


@pytest.mark.parametrize("text", ["gpt-4o", "openai/", "/gpt-4o", "", "custom-Bad_Slug/x", "custom-/x"])
def test_malformed_model_strings_are_refused(text):
    with pytest.raises(UnknownProvider):
        parse_model_string(text)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


DEFAULTS = GlobalDefaults(
    working_model="openai/gpt-4o-mini", thinking_model="anthropic/claude-opus-4", thinking_level="low"
)


def test_step_model_beats_agent_config_beats_defaults(tmp_path):
    write(
        tmp_path / "agents/writer/config.yml",
        "model: anthropic/claude-sonnet-4\nthinking_model: openai/o3\nthinking_level: high\n",
    )
    step = resolve_agent(
        "writer", step_model="groq/llama-3.3-70b-versatile", defaults=DEFAULTS, agents_dir=tmp_path / "agents"
    )
    assert step.model == ModelRef("groq", "llama-3.3-70b-versatile")
    assert step.thinking_model == ModelRef("openai", "o3")
    assert step.thinking_level == "high"
    assert step.sources == {"model": "step", "thinking_model": "agent", "thinking_level": "agent"}

    agent = resolve_agent("writer", defaults=DEFAULTS, agents_dir=tmp_path / "agents")
    assert agent.model == ModelRef("anthropic", "claude-sonnet-4")
    assert agent.sources["model"] == "agent"


def test_agent_without_config_falls_back_to_global_defaults(tmp_path):
    resolved = resolve_agent("nobody", defaults=DEFAULTS, agents_dir=tmp_path / "agents")
    assert resolved.model == ModelRef("openai", "gpt-4o-mini")
    assert resolved.thinking_model == ModelRef("anthropic", "claude-opus-4")
    assert resolved.thinking_level == "low"
    assert set(resolved.sources.values()) == {"default"}


def test_partial_agent_config_mixes_with_defaults():
    resolved = resolve_agent(AgentConfig(thinking_level="off"), agent_id="a", defaults=DEFAULTS)
    assert resolved.model == ModelRef("openai", "gpt-4o-mini")
    assert resolved.thinking_level == "off"
    assert resolved.sources == {"model": "default", "thinking_model": "default", "thinking_level": "agent"}


def test_no_model_anywhere_is_a_config_error_saying_where_to_set_one(tmp_path):
    with pytest.raises(ConfigError) as info:
        resolve_agent("lonely", defaults=GlobalDefaults(), agents_dir=tmp_path)
    assert "agents/lonely/config.yml" in str(info.value)
    assert "default working model" in str(info.value)


def test_pipeline_resolution_per_step(tmp_path):
    write(tmp_path / "agents/critic/config.yml", "model: xai/grok-3-mini\n")
    pipeline_file = write(
        tmp_path / "pipeline.yml",
        """
steps:
  - id: draft
    agent: writer
    model: anthropic/claude-sonnet-4
  - id: review
    agent: critic
""",
    )
    resolved = resolve_pipeline(load_pipeline(pipeline_file), agents_dir=tmp_path / "agents", defaults=DEFAULTS)
    assert resolved["draft"].model == ModelRef("anthropic", "claude-sonnet-4")
    assert resolved["review"].model == ModelRef("xai", "grok-3-mini")


def test_bad_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path / "pipeline.yml", "steps:\n  - id: a\n    agent: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert info.value.path == str(path)
    assert info.value.line is not None and info.value.line >= 3
    assert f"{path}:{info.value.line}" in str(info.value)


def test_invalid_field_names_file_line_and_field(tmp_path):
    path = write(tmp_path / "agents/a/config.yml", "model: openai/gpt-4o\nthinking_level: extreme\n")
    with pytest.raises(ConfigError) as info:
        load_agent_config(tmp_path / "agents", "a")
    assert info.value.line == 2
    assert "thinking_level" in str(info.value) and f"{path}:2" in str(info.value)


def test_unknown_field_in_agent_config_is_refused(tmp_path):
    write(tmp_path / "agents/a/config.yml", "modle: openai/gpt-4o\n")
    with pytest.raises(ConfigError) as info:
        load_agent_config(tmp_path / "agents", "a")
    assert "modle" in str(info.value) and info.value.line == 1


def test_unknown_provider_in_pipeline_points_at_its_line(tmp_path):
    path = write(tmp_path / "p.yml", "steps:\n  - id: a\n    agent: w\n  - id: b\n    agent: w\n    model: nope/x\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert info.value.line == 6
    assert "nope" in str(info.value)


def test_missing_step_field_is_reported(tmp_path):
    path = write(tmp_path / "p.yml", "steps:\n  - id: a\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert "steps.0.agent" in str(info.value)
    assert info.value.line == 2
