"""POST /search when the query embedding outlives QMD_EMBED_QUERY_BUDGET_S: keywords with a warning, or 504."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient

from qmdr.api.app import create_app
from qmdr.memory.hub import VaultHub
from qmdr.memory.indexer import reindex
from qmdr.memory.vaults import DEFAULT_VAULT
from qmdr.search.searcher import Searcher
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.store.sqlite import SqliteStore
from tests.qmdr.embedders import HashEmbedder


class HungEmbedder(HashEmbedder):
    """The index's model, behind a provider that never answers."""

    async def embed(self, texts):
        await anyio.sleep(3600)
        return await super().embed(texts)


@pytest.fixture
def hung_client(tmp_path: Path, vault: Path):
    settings = Settings(qmdr_data_dir=tmp_path / "data", qmd_embed_query_budget_s=0.05)
    store = SqliteStore(memory=True)
    anyio.run(reindex, store, vault, HashEmbedder())
    embedder = HungEmbedder()
    hub = VaultHub(
        settings,
        embedder,
        lambda index: Searcher(index, embedder, embed_budget_s=settings.qmd_embed_query_budget_s),
        stores={DEFAULT_VAULT: store},
    )
    with TestClient(create_app(settings, service=Service(settings, hub))) as client:
        yield client
    store.close()


def test_hybrid_search_answers_from_keywords_with_a_warning(hung_client: TestClient) -> None:
    response = hung_client.post("/search", json={"query": "exponential backoff"})
    assert response.status_code == 200
    body = response.json()
    assert body["results"][0]["path"] == "projects/uploads.md"
    assert any("QMD_EMBED_QUERY_BUDGET_S" in w for w in body["warnings"])


def test_vector_search_is_a_504_that_names_the_setting(hung_client: TestClient) -> None:
    response = hung_client.post("/search", json={"query": "exponential backoff", "mode": "vector"})
    assert response.status_code == 504
    assert response.json()["error"] == "ProviderTimeout"
    assert "QMD_EMBED_QUERY_BUDGET_S" in response.json()["detail"]


def test_the_setting_reaches_the_searcher(make_client) -> None:
    client = make_client(qmd_embed_query_budget_s=1.5)
    assert client.app.state.service.searcher.embed_budget_s == 1.5
