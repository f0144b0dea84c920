"""Where the vault registry and the feedback counts live: picked here, as ``qmdr.store.factory`` picks indexes.

With ``QMDR_DATABASE_URL`` set both live in PostgreSQL (schema ``qmdr_shared``),
so every replica on that database sees the same vaults and votes; otherwise each
is a small SQLite file in ``QMDR_DATA_DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from qmdr.memory.feedback import FEEDBACK_FILE, FeedbackStore
from qmdr.memory.vaults import REGISTRY_FILE, VaultInfo, VaultRegistry, VaultSettings
from qmdr.settings import Settings


class Registry(Protocol):
    """What the vault hub needs of a registry (``VaultRegistry``, ``PostgresVaultRegistry``)."""

    def list(self) -> list[VaultInfo]: ...

    def find(self, name: str) -> VaultInfo | None: ...

    def get(self, name: str) -> VaultInfo: ...

    def add(
        self, name: str, folder: Path, settings: VaultSettings | None = None, *, replace: bool = False
    ) -> VaultInfo: ...

    def remove(self, name: str) -> bool: ...

    def close(self) -> None: ...


class Feedback(Protocol):
    """What the vault hub needs of a feedback store (``FeedbackStore``, ``PostgresFeedbackStore``)."""

    def record(self, vault: str, path: str, useful: bool) -> tuple[int, int]: ...

    def votes(self, vault: str, paths: list[str]) -> dict[str, tuple[int, int]]: ...

    def close(self) -> None: ...


def open_vault_registry(settings: Settings) -> Registry:
    """The vault registry: PostgreSQL when ``QMDR_DATABASE_URL`` is set, else ``<data dir>/vaults.sqlite``."""
    if settings.qmdr_database_url:
        from qmdr.memory.vaults_postgres import PostgresVaultRegistry

        return PostgresVaultRegistry(settings.qmdr_database_url)
    return VaultRegistry(Path(settings.qmdr_data_dir) / REGISTRY_FILE)


def open_feedback_store(settings: Settings) -> Feedback:
    """The feedback counts: PostgreSQL when ``QMDR_DATABASE_URL`` is set, else ``<data dir>/feedback.sqlite``."""
    if settings.qmdr_database_url:
        from qmdr.memory.feedback_postgres import PostgresFeedbackStore

        return PostgresFeedbackStore(settings.qmdr_database_url)
    return FeedbackStore(Path(settings.qmdr_data_dir) / FEEDBACK_FILE)
