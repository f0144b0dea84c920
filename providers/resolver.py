"""Model strings and which model an agent uses.

``parse_model_string("anthropic/claude-sonnet-4")`` splits at the first ``/``:
the provider id, then the provider's own model id (which may itself contain
``/``, as OpenRouter's ``moonshotai/kimi-k2.5`` does).

Which model an agent step runs on is decided here, in this order:

1. the pipeline step's ``model``;
2. ``agents/<id>/config.yml``: ``model``, ``thinking_model``, ``thinking_level``;
3. the global defaults (Settings: default working model, default thinking
   model, default thinking level).

Config files are YAML validated by pydantic; a file that cannot be read raises
ConfigError naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from providers.errors import ConfigError, UnknownProvider
from providers.registry import PROVIDERS, custom_slug, known_provider_ids, validate_slug
from providers.secret_store import GlobalDefaults
from providers.types import ThinkingLevel

#: where an agent's config lives under the agents directory
AGENT_CONFIG_FILENAME = "config.yml"

Source = Literal["step", "agent", "default"]


@dataclass(frozen=True, slots=True)
class ModelRef:
    provider: str
    model: str

    @property
    def custom_slug(self) -> str | None:
        return custom_slug(self.provider)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


def parse_model_string(value: str) -> ModelRef:
    """``provider/model`` -> ModelRef; UnknownProvider (listing the known ids) for an unknown provider."""
    text = value.strip() if isinstance(value, str) else ""
    provider, sep, model = text.partition("/")
    if not sep or not provider or not model.strip():
        raise UnknownProvider(
            f"model {value!r} must be written provider/model (e.g. anthropic/claude-sonnet-4); "
            f"known providers: {', '.join(known_provider_ids())}"
        )
    slug = custom_slug(provider)
    if slug is not None:
        validate_slug(slug)
    elif provider not in PROVIDERS:
        raise UnknownProvider(
            f"unknown provider {provider!r} in model {value!r}; known providers: {', '.join(known_provider_ids())}",
            provider=provider,
        )
    return ModelRef(provider=provider, model=model.strip())


# -- config files -------------------------------------------------------------------


class AgentConfig(BaseModel):
    """``agents/<id>/config.yml``; every field optional, unknown fields are refused (typos surface)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    thinking_model: str | None = None
    thinking_level: ThinkingLevel | None = None


class PipelineStep(BaseModel):
    model_config = ConfigDict(extra="allow")  # steps carry other fields the pipeline runner uses

    id: str
    agent: str
    model: str | None = None


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="allow")

    steps: list[PipelineStep] = Field(default_factory=list)


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the YAML node at pydantic error location ``loc``, as close as we can get."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc}", path=str(path), line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}", path=str(path)) from exc


def _validate(model: type[BaseModel], data: Any, root: yaml.Node | None, path: Path) -> Any:
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        err = exc.errors()[0]
        line = _line_of(root, err["loc"])
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: {field}: {err['msg']}", path=str(path), line=line) from exc


def _check_model_strings(
    values: Mapping[str, str | None], path: Path, root: yaml.Node | None, prefix: Sequence[int | str] = ()
) -> None:
    for name, value in values.items():
        if value is None:
            continue
        try:
            parse_model_string(value)
        except UnknownProvider as exc:
            line = _line_of(root, [*prefix, name])
            where = f"{path}:{line}" if line else str(path)
            raise ConfigError(f"{where}: {name}: {exc.message}", path=str(path), line=line) from exc


def load_agent_config(agents_dir: str | Path, agent_id: str) -> AgentConfig:
    """``<agents_dir>/<agent_id>/config.yml``; an agent without a file uses the defaults."""
    path = Path(agents_dir) / agent_id / AGENT_CONFIG_FILENAME
    if not path.exists():
        return AgentConfig()
    data, root = _load_yaml(path)
    config: AgentConfig = _validate(AgentConfig, data, root, path)
    _check_model_strings({"model": config.model, "thinking_model": config.thinking_model}, path, root)
    return config


def load_pipeline(path: str | Path) -> Pipeline:
    """A pipeline YAML file: ``steps: [{id, agent, model}]``."""
    path = Path(path)
    data, root = _load_yaml(path)
    pipeline: Pipeline = _validate(Pipeline, data, root, path)
    for index, step in enumerate(pipeline.steps):
        _check_model_strings({"model": step.model}, path, root, prefix=("steps", index))
    return pipeline


# -- resolution -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedAgent:
    """The models an agent step runs with, and where each choice came from (for the UI and logs)."""

    agent: str
    model: ModelRef
    thinking_model: ModelRef | None
    thinking_level: ThinkingLevel | None
    sources: Mapping[str, Source]


def resolve_agent(
    agent: str | AgentConfig,
    *,
    agent_id: str | None = None,
    step_model: str | None = None,
    defaults: GlobalDefaults | None = None,
    agents_dir: str | Path | None = None,
) -> ResolvedAgent:
    """Apply step > agent config > global defaults. ``agent`` is an id (config loaded from ``agents_dir``)
    or an already-loaded AgentConfig."""
    defaults = defaults or GlobalDefaults()
    if isinstance(agent, AgentConfig):
        config, name = agent, agent_id or "(agent)"
    else:
        name = agent
        config = load_agent_config(agents_dir, agent) if agents_dir is not None else AgentConfig()
    sources: dict[str, Source] = {}

    def pick(field: str, *candidates: tuple[Source, Any]) -> Any:
        for source, value in candidates:
            if value is not None:
                sources[field] = source
                return value
        return None

    model = pick("model", ("step", step_model), ("agent", config.model), ("default", defaults.working_model))
    if model is None:
        raise ConfigError(
            f"no model for agent {name!r}: set `model` in its pipeline step or in agents/{name}/"
            f"{AGENT_CONFIG_FILENAME}, or a default working model in Settings"
        )
    thinking_model = pick("thinking_model", ("agent", config.thinking_model), ("default", defaults.thinking_model))
    level = pick("thinking_level", ("agent", config.thinking_level), ("default", defaults.thinking_level))
    return ResolvedAgent(
        agent=name,
        model=parse_model_string(model),
        thinking_model=parse_model_string(thinking_model) if thinking_model else None,
        thinking_level=level,
        sources=sources,
    )


def pipeline_step(pipeline: Pipeline, step_id: str, *, path: str | Path | None = None) -> PipelineStep:
    """The step ``step_id`` of ``pipeline``; ConfigError listing the steps there are when it has none."""
    for step in pipeline.steps:
        if step.id == step_id:
            return step
    listed = ", ".join(s.id for s in pipeline.steps) or "none"
    where = f" in {path}" if path else ""
    raise ConfigError(f"no step {step_id[:80]!r}{where}; its steps: {listed}", path=str(path) if path else None)


def resolve_pipeline(
    pipeline: Pipeline, *, agents_dir: str | Path, defaults: GlobalDefaults | None = None
) -> dict[str, ResolvedAgent]:
    """Every step's resolution, by step id."""
    return {
        step.id: resolve_agent(step.agent, step_model=step.model, defaults=defaults, agents_dir=agents_dir)
        for step in pipeline.steps
    }
