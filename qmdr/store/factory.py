"""Where each vault's index lives: the one place that picks a backend and a location for a vault.

Every caller that needs a vault's ``Store`` (the service, the vault hub, the
CLI) asks ``open_vault_store`` instead of constructing a backend itself, so the
choice "PostgreSQL when ``QMDR_DATABASE_URL`` is set, else one SQLite file per
vault" is made here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from qmdr.settings import Settings
from qmdr.store.base import Store

#: the vault whose index is ``Settings.index_path`` (``QMDR_INDEX_PATH`` / ``QMDR_INDEX_NAME``)
DEFAULT_VAULT = "default"
#: named vaults keep their SQLite index files in this folder under ``QMDR_DATA_DIR``
VAULT_INDEX_DIR = "vaults"


def sqlite_index_file(settings: Settings, name: str) -> Path:
    """The SQLite file of vault ``name`` (``default`` keeps the historical ``index_path``)."""
    if name == DEFAULT_VAULT:
        return Path(settings.index_path)
    return Path(settings.qmdr_data_dir) / VAULT_INDEX_DIR / f"{name}.sqlite"


def open_vault_store(settings: Settings, name: str) -> Store:
    """Open the index of vault ``name``: PostgreSQL when ``QMDR_DATABASE_URL`` is set, else its SQLite file.

    With PostgreSQL every vault, ``default`` included, is a schema of that one
    database (``qmdr.store.migrations.postgres``), so replicas sharing the URL share
    every vault.
    """
    if settings.qmdr_database_url:
        from qmdr.store.postgres import PostgresStore

        return PostgresStore(settings.qmdr_database_url, vault=name)
    from qmdr.store.sqlite import SqliteStore

    path = sqlite_index_file(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(path)


#: files beside a SQLite index that belong to it (WAL, shared memory, the reindex lock file, the saved
#: vector snapshot of ``qmdr.store.vector_file``)
SQLITE_INDEX_SUFFIXES = ("", "-wal", "-shm", ".reindex-lock", ".vectors")


def remove_vault_store(settings: Settings, name: str) -> None:
    """Delete vault ``name``'s index (never its folder), wherever ``open_vault_store`` keeps it.

    Close the vault's open stores first.
    """
    if settings.qmdr_database_url:
        from qmdr.store.postgres import drop_vault_index

        drop_vault_index(settings.qmdr_database_url, name)
        return
    base = sqlite_index_file(settings, name)
    for suffix in SQLITE_INDEX_SUFFIXES:
        Path(f"{base}{suffix}").unlink(missing_ok=True)
