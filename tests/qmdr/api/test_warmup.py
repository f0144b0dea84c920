"""The server warms the vector snapshot at start without holding up /health or keyword searches."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
from fastapi.testclient import TestClient

from qmdr.api.app import create_app
from qmdr.memory.hub import VaultHub
from qmdr.memory.indexer import reindex
from qmdr.memory.vaults import DEFAULT_VAULT
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.store.sqlite import SqliteStore
from tests.qmdr.embedders import HashEmbedder

#: a held warm-up gives up after this long, so a regression fails instead of hanging the run
HOLD_LIMIT_S = 30


def test_health_and_keyword_search_answer_while_the_snapshot_warms(tmp_path: Path, vault: Path) -> None:
    armed, started, release = threading.Event(), threading.Event(), threading.Event()

    def hold_the_first_build(chunks: int) -> None:
        if armed.is_set() and not started.is_set():
            started.set()
            assert release.wait(HOLD_LIMIT_S), "the test never released the warm-up"

    embedder = HashEmbedder()
    store = SqliteStore(tmp_path / "index.sqlite", on_snapshot_build=hold_the_first_build)
    anyio.run(reindex, store, vault, embedder)
    armed.set()
    settings = Settings(qmdr_data_dir=tmp_path / "data")
    service = Service(settings, VaultHub(settings, embedder, stores={DEFAULT_VAULT: store}))
    try:
        with TestClient(create_app(settings, service=service)) as client:
            assert started.wait(HOLD_LIMIT_S)  # the lifespan started the warm-up
            warmup = client.app.state.store_warmup
            assert client.get("/health").json()["index"]["notes"] == 4
            found = client.post("/search", json={"query": "sourdough", "mode": "keyword"}).json()
            assert found["results"][0]["path"] == "recipes/bread.md"
            assert warmup.is_alive()  # both answered while the build was still held open
            release.set()
            warmup.join(HOLD_LIMIT_S)
            assert store._snapshot is not None and store._snapshot.generation == store.generation()
            assert client.get("/health").json()["index"]["keyword_index"]["state"] == "current"
            vector = client.post("/search", json={"query": "heron lake hiking", "mode": "vector"}).json()
            assert vector["results"][0]["path"] == "journal/2024-05-01.md"
    finally:
        release.set()
        store.close()


def test_indexed_named_vaults_are_warmed_too_and_unindexed_ones_not_created(tmp_path: Path) -> None:
    from tests.qmdr.memory_service import make_service, write_notes

    notes = {"a.md": "# A\n\nUploads retry with backoff.\n", "b.md": "# B\n\nTomatoes need sun.\n"}
    first = make_service(tmp_path, write_notes(tmp_path / "default-notes", notes))
    anyio.run(first.memory.reindex, "default")
    first.memory.add("shared", write_notes(tmp_path / "shared-notes", notes))
    anyio.run(first.memory.reindex, "shared")
    first.memory.add("never", write_notes(tmp_path / "never-notes", notes))
    first.memory.close()
    first.store.close()

    again = make_service(tmp_path, tmp_path / "default-notes")  # a restart on the same data dir
    try:
        with TestClient(create_app(again.settings, service=again)) as client:
            client.app.state.store_warmup.join(HOLD_LIMIT_S)
            shared = again.memory._open["shared"].store
            assert shared._snapshot is not None and shared._snapshot.generation == shared.generation()
            assert again.store._snapshot is not None
            assert "never" not in again.memory._open and not again.memory.index_file("never").exists()
    finally:
        again.memory.close()
        again.store.close()


def test_a_vault_opened_after_start_is_warmed_and_keeps_its_keyword_index(tmp_path: Path) -> None:
    from tests.qmdr.memory_service import make_service, write_notes

    notes = {"a.md": "# A\n\nUploads retry with backoff.\n", "b.md": "# B\n\nTomatoes need sun.\n"}
    service = make_service(tmp_path, write_notes(tmp_path / "default-notes", notes))
    try:
        with TestClient(create_app(service.settings, service=service)) as client:
            client.app.state.store_warmup.join(HOLD_LIMIT_S)
            service.memory.add("later", write_notes(tmp_path / "later-notes", notes))
            anyio.run(service.memory.reindex, "later")
            store = service.memory._open["later"].store
            deadline = time.monotonic() + HOLD_LIMIT_S
            while time.monotonic() < deadline and not (
                store._keyword_keeper.index is not None and store._keyword_keeper.index.generation == store.generation()
            ):
                time.sleep(0.02)
            assert store._keyword_keeper.index is not None and store._keyword_keeper.index.term_postings("tomato") == 1
            found = client.post("/vaults/later/search", json={"query": "tomatoes", "mode": "keyword"}).json()
            assert [hit["path"] for hit in found["results"]] == ["b.md"]
    finally:
        service.memory.close()
        service.store.close()
