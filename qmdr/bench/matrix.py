"""The provider matrix of the quality benchmark, from a small YAML file.

Each entry is a named set of settings overrides (the same names as the
environment variables, any case); the bench builds components from them with
``qmdr.wiring.build_components``, exactly as the service would::

    embedders:
      local: {}
      oai-small:
        QMD_EMBED_PROVIDER: openai
        QMD_OPENAI_EMBED_MODEL: openai/text-embedding-3-small
    rerankers:
      mini:
        QMD_RERANK_PROVIDER: openai
        QMD_OPENAI_MODEL: openai/gpt-4o-mini
    expanders:
      mini:
        QMD_RERANK_PROVIDER: openai
        QMD_OPENAI_MODEL: openai/gpt-4o-mini

Keys stay in the environment (or the settings store); the YAML never holds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SECTIONS = ("embedders", "rerankers", "expanders")
# Overrides that would put a secret into a file that gets committed.
_SECRET_SUFFIXES = ("_api_key", "_token", "_encryption_key")


@dataclass(slots=True)
class Matrix:
    embedders: dict[str, dict[str, Any]] = field(default_factory=lambda: {"local": {}})
    rerankers: dict[str, dict[str, Any]] = field(default_factory=dict)
    expanders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def price_models(self) -> dict[str, str]:
        """Config name -> model name, for the price table."""
        out: dict[str, str] = {}
        for name, over in self.embedders.items():
            remote = over.get("qmd_embed_provider", "local") != "local"
            out[name] = over.get("qmd_openai_embed_model", _default("qmd_openai_embed_model")) if remote \
                else "local"
        for name, over in {**self.rerankers, **self.expanders}.items():
            out[name] = over.get("qmd_openai_model", _default("qmd_openai_model"))
        return out

    def factories(self, base: dict[str, Any] | None = None) -> dict[str, dict[str, Callable[[], Any]]]:
        """``{"embedder_factories": ..., "reranker_factories": ..., "expander_factories": ...}``."""
        return {
            "embedder_factories": {n: _component(base, o, "embedder") for n, o in self.embedders.items()},
            "reranker_factories": {n: _component(base, o, "reranker") for n, o in self.rerankers.items()},
            "expander_factories": {n: _component(base, o, "expander") for n, o in self.expanders.items()},
        }


def _default(name: str) -> Any:
    """A Settings field's default, without reading the environment."""
    from qmdr.settings import Settings

    return Settings.model_fields[name].default


def _component(base: dict[str, Any] | None, overrides: dict[str, Any], role: str) -> Callable[[], Any]:
    def build() -> Any:
        from qmdr.settings import Settings
        from qmdr.wiring import build_components

        settings = Settings(**{**(base or {}), **overrides})
        component = getattr(build_components(settings), role)
        if component is None:
            raise ValueError(f"settings {sorted(overrides)} configure no {role}; set its provider")
        return component

    return build


def load_matrix(path: Path) -> Matrix:
    """Read and check a matrix YAML file (unknown sections and inline secrets are refused)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or set(raw) - set(SECTIONS):
        raise ValueError(f"{path}: top-level keys must be among {', '.join(SECTIONS)}")
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    for section in SECTIONS:
        entries = raw.get(section) or {}
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: {section} must map a name to settings")
        checked: dict[str, dict[str, Any]] = {}
        for name, overrides in entries.items():
            overrides = {str(k).lower(): v for k, v in (overrides or {}).items()}
            secret = [k for k in overrides if k.endswith(_SECRET_SUFFIXES)]
            if secret:
                raise ValueError(f"{path}: {section}.{name} sets {', '.join(s.upper() for s in secret)}; "
                                 "keep keys in the environment or the settings store, not in this file")
            checked[str(name)] = overrides
        sections[section] = checked
    return Matrix(sections["embedders"] or {"local": {}}, sections["rerankers"], sections["expanders"])
