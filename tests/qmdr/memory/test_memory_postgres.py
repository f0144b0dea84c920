"""Agent memory on PostgreSQL: two services (replicas) on one database share vaults, notes and feedback."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmdr.memory.backends import open_feedback_store, open_vault_registry
from qmdr.memory.feedback_postgres import PostgresFeedbackStore
from qmdr.memory.hub import VaultHub
from qmdr.memory.notes_write import write_note
from qmdr.memory.vaults import NotAFolder, UnknownVault, VaultExists, VaultSettings
from qmdr.memory.vaults_postgres import PostgresVaultRegistry
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.store.factory import open_vault_store
from qmdr.store.postgres import PostgresStore
from tests.qmdr.embedders import HashEmbedder
from tests.qmdr.memory_service import write_notes

pytestmark = pytest.mark.postgres

ALICE = {"retries.md": "# Retries\n\nAlice decided uploads retry with exponential backoff.\n"}


def replica(tmp_path: Path, name: str, url: str) -> Service:
    """One server's Service: its own data dir, the shared database."""
    data = tmp_path / f"data-{name}"
    data.mkdir(parents=True, exist_ok=True)
    config = Settings(_env_file=None, qmdr_data_dir=data, qmdr_database_url=url)
    return Service(config, VaultHub(config, HashEmbedder()))  # every vault opened through open_vault_store


def test_the_factories_pick_postgres_for_every_vault_when_a_url_is_set(tmp_path: Path, pg_url: str) -> None:
    config = Settings(_env_file=None, qmdr_data_dir=tmp_path, qmdr_database_url=pg_url)
    store = open_vault_store(config, "alice")
    registry, feedback = open_vault_registry(config), open_feedback_store(config)
    try:
        assert isinstance(store, PostgresStore) and store.vault == "alice"
        assert isinstance(registry, PostgresVaultRegistry) and isinstance(feedback, PostgresFeedbackStore)
        assert pg_url not in repr(store) and pg_url not in repr(registry)
    finally:
        for opened in (store, registry, feedback):
            opened.close()
    assert not (tmp_path / "vaults.sqlite").exists() and not (tmp_path / "feedback.sqlite").exists()


def test_registry_on_postgres_behaves_like_the_sqlite_one(tmp_path: Path, pg_url: str) -> None:
    folder = write_notes(tmp_path / "alice", ALICE)
    first, second = PostgresVaultRegistry(pg_url), PostgresVaultRegistry(pg_url)
    try:
        first.add("alice", folder, VaultSettings(description="Alice's notes"))
        (info,) = second.list()
        assert info.name == "alice" and info.folder == folder.resolve()
        assert info.settings.description == "Alice's notes"
        with pytest.raises(VaultExists):
            second.add("alice", folder)
        second.add("alice", folder, VaultSettings(description="renamed"), replace=True)
        assert first.get("alice").settings.description == "renamed"
        assert first.remove("alice") is True and second.remove("alice") is False
        with pytest.raises(UnknownVault):
            second.get("alice")
        with pytest.raises(NotAFolder):  # a file, not a folder: the same 422 as the SQLite registry
            first.add("notes", folder / "retries.md")
        assert first.find("notes") is None
    finally:
        first.close()
        second.close()


def test_feedback_on_postgres_counts_votes_from_every_replica(pg_url: str) -> None:
    first, second = PostgresFeedbackStore(pg_url), PostgresFeedbackStore(pg_url)
    try:
        assert first.record("default", "a.md", True) == (1, 0)
        assert second.record("default", "a.md", False) == (1, 1)
        assert first.record("default", "a.md", True) == (2, 1)
        assert second.votes("default", ["a.md", "b.md"]) == {"a.md": (2, 1)}
        assert second.votes("other", ["a.md"]) == {}
    finally:
        first.close()
        second.close()


@pytest.mark.anyio
async def test_a_vault_added_and_written_through_one_replica_is_searched_on_the_other(
    tmp_path: Path, pg_url: str
) -> None:
    a, b = replica(tmp_path, "a", pg_url), replica(tmp_path, "b", pg_url)
    try:
        folder = write_notes(tmp_path / "alice", ALICE)
        a.memory.add("alice", folder)
        await a.memory.reindex("alice")
        assert [v.name for v in b.memory.list()] == ["alice"]
        found = await b.memory.search("exponential backoff", vaults=["alice"], mode="keyword", k=3)
        assert [hit.result.path for hit in found.results] == ["retries.md"]

        await write_note(a.memory, "alice", "log/today", content="The zeppelin hangar opens at dawn.")
        found = await b.memory.search("zeppelin hangar", vaults=["alice"], mode="keyword", k=3)
        assert [hit.result.path for hit in found.results] == ["log/today.md"]

        await a.memory.remove("alice")
        assert b.memory.list() == []
        reopened = PostgresStore(pg_url, vault="alice")
        assert reopened.stats().notes == 0  # its index went with it
        reopened.close()
    finally:
        for service in (a, b):
            service.memory.close()
            await service.aclose()
