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

    Today only ``default`` is placed in PostgreSQL; named vaults stay SQLite files.
    """
    if settings.qmdr_database_url and name == DEFAULT_VAULT:
        from qmdr.store.postgres import PostgresStore

        return PostgresStore(settings.qmdr_database_url)
    from qmdr.store.sqlite import SqliteStore

    path = sqlite_index_file(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(path)
