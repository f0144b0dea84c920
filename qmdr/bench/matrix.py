"""The provider matrix of the quality benchmark, from the command line or a small YAML file.

Each entry is a named set of settings overrides (the same names as the
environment variables, any case), or one of the shorthands ``local`` (the
embedded model) and ``local-server`` (the OpenAI-compatible test server of
:mod:`qmdr.bench.local_server`); the bench builds components from them with
``qmdr.wiring.build_components``, exactly as the service would::

    embedders:
      local: local
      served: local-server
      oai-small:
        QMD_EMBED_PROVIDER: openai
        QMD_OPENAI_EMBED_MODEL: openai/text-embedding-3-small
    rerankers:
      grader: local-server
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
#: shorthand entries: the embedded model, and the local OpenAI-compatible test server
LOCAL = "local"
LOCAL_SERVER = "local-server"
SHORTHANDS = (LOCAL, LOCAL_SERVER)
# A config marked with this key is filled in by `bind_local_server` once the server runs.
_LOCAL_SERVER_MARK = "__local_server__"


@dataclass(slots=True)
class Matrix:
    embedders: dict[str, dict[str, Any]] = field(default_factory=lambda: {LOCAL: local_embedder()})
    rerankers: dict[str, dict[str, Any]] = field(default_factory=dict)
    expanders: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: components built so far, closed by :meth:`aclose`
    opened: list[Any] = field(default_factory=list)

    def needs_local_server(self) -> bool:
        return any(_LOCAL_SERVER_MARK in over for section in self._sections() for over in section.values())

    def bind_local_server(self, server: Any) -> None:
        """Point every ``local-server`` entry at a running :class:`LocalProviderServer`."""
        for role, section in zip(SECTIONS, self._sections(), strict=True):
            for name, over in section.items():
                if _LOCAL_SERVER_MARK in over:
                    settings = server.embedder_settings() if role == "embedders" else server.reranker_settings()
                    section[name] = {_LOCAL_SERVER_MARK: True, **settings}

    def _sections(self) -> tuple[dict[str, dict[str, Any]], ...]:
        return self.embedders, self.rerankers, self.expanders

    def price_models(self) -> dict[str, str]:
        """Config name -> model name, for the price table (the local server's models cost nothing)."""
        out: dict[str, str] = {}
        for name, over in self.embedders.items():
            remote = over.get("qmd_embed_provider", LOCAL) != LOCAL and _LOCAL_SERVER_MARK not in over
            out[name] = over.get("qmd_openai_embed_model", _default("qmd_openai_embed_model")) if remote else LOCAL
        for name, over in {**self.rerankers, **self.expanders}.items():
            out[name] = (
                LOCAL if _LOCAL_SERVER_MARK in over else over.get("qmd_openai_model", _default("qmd_openai_model"))
            )
        return out

    def factories(self, base: dict[str, Any] | None = None) -> dict[str, dict[str, Callable[[], Any]]]:
        """``{"embedder_factories": ..., "reranker_factories": ..., "expander_factories": ...}``."""
        if any(
            over.get(_LOCAL_SERVER_MARK) is None and _LOCAL_SERVER_MARK in over
            for section in self._sections()
            for over in section.values()
        ):
            raise RuntimeError("start the local server and call bind_local_server() first")
        return {
            "embedder_factories": {n: self._component(base, o, "embedder") for n, o in self.embedders.items()},
            "reranker_factories": {n: self._component(base, o, "reranker") for n, o in self.rerankers.items()},
            "expander_factories": {n: self._component(base, o, "expander") for n, o in self.expanders.items()},
        }

    def _component(self, base: dict[str, Any] | None, overrides: dict[str, Any], role: str) -> Callable[[], Any]:
        def build() -> Any:
            components = (
                build_isolated(base, overrides) if _isolated(overrides) else build_from_environment(base, overrides)
            )
            self.opened.append(components)
            component = getattr(components, role)
            if component is None:
                raise ValueError(f"settings {sorted(overrides)} configure no {role}; set its provider")
            return component

        return build

    async def aclose(self) -> None:
        """Close the provider clients of every component built (inside the loop that used them)."""
        while self.opened:
            await self.opened.pop().aclose()


def local_embedder() -> dict[str, Any]:
    """The embedded model, whatever QMD_EMBED_PROVIDER the environment sets."""
    return {"qmd_embed_provider": LOCAL}


def local_server_entry() -> dict[str, Any]:
    """A placeholder entry that :meth:`Matrix.bind_local_server` fills in."""
    return {_LOCAL_SERVER_MARK: None}


def _isolated(overrides: dict[str, Any]) -> bool:
    """Local rows never need the user's keys or settings store."""
    return _LOCAL_SERVER_MARK in overrides or overrides == local_embedder()


def _settings(base: dict[str, Any] | None, overrides: dict[str, Any]) -> Any:
    from qmdr.settings import Settings

    return Settings(**{**(base or {}), **{k: v for k, v in overrides.items() if k != _LOCAL_SERVER_MARK}})


def build_isolated(base: dict[str, Any] | None, overrides: dict[str, Any]) -> Any:
    """Components from explicit settings, an empty provider environment and an in-memory settings store."""
    from providers.secret_store import SecretStore
    from qmdr.wiring import build_components

    return build_components(_settings(base, overrides), env={}, secrets=SecretStore(memory=True))


def build_from_environment(base: dict[str, Any] | None, overrides: dict[str, Any]) -> Any:
    """Components as the service builds them: keys from the environment and the settings store."""
    from qmdr.wiring import build_components

    return build_components(_settings(base, overrides))


def _default(name: str) -> Any:
    """A Settings field's default, without reading the environment."""
    from qmdr.settings import Settings

    return Settings.model_fields[name].default


def _entry(path: Path | str, where: str, value: Any) -> dict[str, Any]:
    if value == LOCAL:
        return local_embedder()
    if value == LOCAL_SERVER:
        return local_server_entry()
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{path}: {where} must be settings or one of {', '.join(SHORTHANDS)}")
    overrides = {str(k).lower(): v for k, v in (value or {}).items()}
    secret = [k for k in overrides if k.endswith(_SECRET_SUFFIXES)]
    if secret:
        raise ValueError(
            f"{path}: {where} sets {', '.join(s.upper() for s in secret)}; "
            "keep keys in the environment or the settings store, not in this file"
        )
    return overrides


def load_matrix(path: Path) -> Matrix:
    """Read and check a matrix YAML file (unknown sections, bad entries and inline secrets are refused)."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict) or set(raw) - set(SECTIONS):
        raise ValueError(f"{path}: top-level keys must be among {', '.join(SECTIONS)}")
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    for section in SECTIONS:
        entries = raw.get(section) or {}
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: {section} must map a name to settings")
        sections[section] = {str(name): _entry(path, f"{section}.{name}", value) for name, value in entries.items()}
    return Matrix(sections["embedders"] or {LOCAL: local_embedder()}, sections["rerankers"], sections["expanders"])
