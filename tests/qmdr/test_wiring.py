"""build_components opens the provider layer (settings store, keys, HTTP client) only when something needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmdr.settings import Settings
from qmdr.wiring import build_components


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(qmdr_data_dir=tmp_path / "data", _env_file=None, **extra)  # type: ignore[call-arg]


@pytest.mark.anyio
async def test_the_embedded_model_without_rerank_opens_no_settings_store_until_asked(tmp_path: Path) -> None:
    config = settings(tmp_path)
    components = build_components(config, env={})
    assert components.embedder.model_id == "local/all-MiniLM-L6-v2"
    assert components.reranker is None and components.expander is None
    assert components.describe_rerank() == {"enabled": False, "provider": None, "mode": "none"}
    assert not config.settings_db_path.exists()  # a keyword search or status never opens it

    assert components.keys.key_info("openrouter").source == "none"  # first use builds the access
    assert config.settings_db_path.exists()
    assert components.providers is components.providers  # built once
    await components.aclose()


@pytest.mark.anyio
async def test_closing_components_that_never_opened_the_provider_layer_opens_nothing(tmp_path: Path) -> None:
    config = settings(tmp_path)
    components = build_components(config, env={})
    await components.aclose()
    assert not config.settings_db_path.exists()


@pytest.mark.anyio
async def test_a_rerank_provider_builds_the_provider_layer_up_front(tmp_path: Path) -> None:
    config = settings(tmp_path, qmd_rerank_provider="openrouter", qmd_openai_model="openai/gpt-4o-mini")
    components = build_components(config, env={})
    assert components.reranker is not None
    assert config.settings_db_path.exists()
    await components.aclose()
