"""All configuration of qmdr in one pydantic-settings model.

Built once at the entry point (CLI command or ``create_app``) and passed down;
nothing deeper reads the environment. Precedence, decided here and in the key
store: command-line argument > stored (dashboard) > environment > ``.env`` > default.

The seed's ``QMD_*`` names are the public contract for memory search; ``QMDR_*``
names configure the service itself.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: notes larger than this are skipped: a multi-megabyte "note" is almost always an export or a log
DEFAULT_MAX_NOTE_BYTES = 8 * 1024 * 1024
#: near-duplicate line for the embedded model, measured on Cranfield paraphrase vs related/unrelated pairs
#: (benchmarks/results/duplicates.md); another embedding model has another cosine scale: re-measure
DUPLICATE_THRESHOLD = 0.82
RerankMode = Literal["llm", "none", "api"]


def default_data_dir() -> Path:
    """Where indexes and the settings store live: ``$XDG_DATA_HOME/qmdr`` or ``~/.local/share/qmdr``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "qmdr"


class Settings(BaseSettings):
    """Every setting, its env var (the upper-cased field name) and its default."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True, case_sensitive=False
    )

    # --- memory search: embeddings (seed names) ---
    qmd_embed_provider: str = Field("local", description="local, openai, a registry provider id or custom-<slug>")
    qmd_openai_api_key: SecretStr | None = Field(
        None, description="key for QMD_OPENAI_BASE_URL; falls back to the provider's own key"
    )
    qmd_openai_base_url: str = Field(
        "https://openrouter.ai/api/v1", description="OpenAI-compatible endpoint used when a QMD_* provider is 'openai'"
    )
    qmd_openai_embed_model: str = Field(
        "openai/text-embedding-3-small", description="embedding model for remote providers"
    )
    qmd_openai_embed_dimensions: int | None = Field(
        None, ge=8, le=8192, description="output dimensions for models that take it (text-embedding-3-*)"
    )
    qmd_embed_batch_size: int = Field(64, ge=1, le=2048, description="texts per embeddings request")
    qmd_embed_concurrency: int = Field(4, ge=1, le=32, description="embedding requests in flight at once")
    qmd_embed_query_budget_s: float = Field(
        5.0,
        gt=0,
        le=120,
        description="seconds a search waits for its query embedding; past it hybrid answers from keywords, vector mode fails (504)",
    )
    # --- memory search: rerank (seed names) ---
    qmd_rerank_provider: str | None = Field(None, description="provider for reranking; unset means no rerank")
    qmd_rerank_mode: RerankMode | None = Field(
        None, description="llm (default when a rerank provider is set), none or api"
    )
    qmd_openai_model: str = Field("openai/gpt-4o-mini", description="chat model for LLM rerank and query expansion")
    qmd_rerank_top_n: int = Field(30, ge=1, le=200, description="fused candidates sent to the reranker")
    qmd_rerank_budget_s: float = Field(3.0, gt=0, le=60, description="time budget of the rerank stage per search")

    # --- the service ---
    qmdr_vault: Path | None = Field(None, description="default vault folder for `qmdr index` and POST /reindex")
    qmdr_index_name: str = Field(
        "default", pattern=r"^[A-Za-z0-9_.-]+$", description="index file name under the data dir"
    )
    qmdr_index_path: Path | None = Field(None, description="explicit SQLite index file (overrides the name)")
    qmdr_database_url: str | None = Field(
        None,
        description="postgresql://... to keep every vault, the vault list and feedback in PostgreSQL (pgvector >= 0.8, pg_trgm) instead of SQLite files",
    )
    qmdr_data_dir: Path = Field(default_factory=default_data_dir, description="indexes and the settings store")
    qmdr_host: str = Field("127.0.0.1", description="bind address of `qmdr serve`")
    qmdr_port: int = Field(8181, ge=1, le=65535, description="port of `qmdr serve`")
    qmdr_api_token: SecretStr | None = Field(None, description="bearer token required by the API and dashboard")
    qmdr_trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated or a JSON list; default none)",
    )
    qmdr_auth_free_failures: int = Field(
        10,
        ge=1,
        le=1_000_000,
        description="wrong tokens one client address may send (in 15 minutes) before lockouts of 1 s, 2 s, 4 s ... up to 5 minutes",
    )
    qmdr_max_note_bytes: int = Field(DEFAULT_MAX_NOTE_BYTES, ge=1024, description="notes larger than this are skipped")
    qmdr_chunk_tokens: int = Field(256, ge=32, le=8192, description="chunk budget in embedding-model tokens")
    qmdr_chunk_overlap: int = Field(32, ge=0, le=1024, description="tokens carried from one chunk into the next")
    qmdr_agents_dir: Path = Field(Path("agents"), description="agent configs: <dir>/<agent id>/config.yml")
    qmdr_pipelines_dir: Path = Field(Path("pipelines"), description="pipelines POST /chat names: <dir>/<name>.yml")
    qmdr_log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    qmdr_log_format: Literal["text", "json"] = Field(
        "text", description="text, or json for one JSON object per log line (with request_id)"
    )
    qmdr_vault_roots: list[Path] = Field(
        default_factory=list,
        description="extra folders POST /reindex may index (JSON list); QMDR_VAULT and registered vaults always may",
    )
    # --- agent memory (qmdr.memory.hub, qmdr.memory.watch, qmdr.memory.context, qmdr.search.boosts) ---
    qmdr_watch: bool = Field(False, description="`qmdr serve` follows every vault folder and reindexes changed notes")
    qmdr_watch_debounce_s: float = Field(
        2.0, gt=0, le=60, description="quiet time after a burst of file changes before reindexing"
    )
    qmdr_context_tokens: int = Field(2000, ge=64, le=100_000, description="default token budget of POST /context")
    qmdr_duplicate_threshold: float = Field(
        DUPLICATE_THRESHOLD,
        gt=0,
        le=1,
        description="cosine similarity from which a note write reports a stored chunk as a near duplicate",
    )
    qmdr_recency_weight: float = Field(0.0, ge=0, le=10, description="recency boost weight (0 = off)")
    qmdr_recency_half_life_days: float = Field(
        30.0, gt=0, le=36_500, description="age at which the recency boost halves"
    )
    qmdr_feedback_weight: float = Field(
        0.0, ge=0, le=1, description="usefulness-prior weight from POST /feedback (0 = off)"
    )
    qmdr_mcp_port: int = Field(8182, ge=1, le=65535, description="port of `qmdr mcp --http`")
    secret_encryption_key: SecretStr | None = Field(None, description="encrypts stored API keys at rest")

    @field_validator("qmd_embed_provider", "qmd_rerank_provider", mode="before")
    @classmethod
    def _normalise_provider(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return value or None
        return value

    @field_validator("qmdr_trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        """``10.0.0.5,10.1.0.0/16`` or ``["10.0.0.5"]``; each an IP address or network, or ``*`` (anyone)."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [p for p in text.split(",") if p.strip()]
        if isinstance(value, list):
            for entry in value:
                entry = str(entry).strip()
                if entry != "*":
                    try:
                        ipaddress.ip_network(entry, strict=False)
                    except ValueError:
                        raise ValueError(f"QMDR_TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
            return [str(entry).strip() for entry in value]
        return value

    @model_validator(mode="after")
    def _defaults_that_depend_on_others(self) -> Settings:
        if self.qmd_embed_provider is None:
            self.qmd_embed_provider = "local"
        if self.qmd_rerank_mode is None:
            self.qmd_rerank_mode = "llm" if self.qmd_rerank_provider else "none"
        if self.qmdr_chunk_overlap >= self.qmdr_chunk_tokens:
            raise ValueError("QMDR_CHUNK_OVERLAP must be smaller than QMDR_CHUNK_TOKENS")
        return self

    @property
    def index_path(self) -> Path:
        """The SQLite index file this configuration uses."""
        return self.qmdr_index_path or self.qmdr_data_dir / f"{self.qmdr_index_name}.sqlite"

    @property
    def settings_db_path(self) -> Path:
        """The settings store (encrypted keys, custom providers, default models)."""
        return self.qmdr_data_dir / "settings.sqlite"

    @property
    def rerank_enabled(self) -> bool:
        return bool(self.qmd_rerank_provider) and self.qmd_rerank_mode != "none"


def provider_environment(env_file: str | Path | None = ".env") -> dict[str, str]:
    """Provider credentials come from the process environment, then ``.env``.

    The provider layer reads keys like ``OPENROUTER_API_KEY`` from this mapping
    (stored keys beat both); ``.env`` never overwrites a stored key because it
    is only ever consulted, never imported into the store.
    """
    merged: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def documented_env_vars() -> dict[str, str]:
    """ENV_VAR -> description, for docs, `qmdr status` and the compose-file test."""
    return {name.upper(): (field.description or "") for name, field in Settings.model_fields.items()}
