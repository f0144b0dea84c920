"""Where agent tokens live: picked here, as ``qmdr.memory.backends`` picks the vault registry."""

from __future__ import annotations

from pathlib import Path

from qmdr.access.tokens import TOKENS_FILE, TokenStore
from qmdr.settings import Settings


def open_token_store(settings: Settings) -> TokenStore:
    """PostgreSQL (``qmdr_shared.tokens``) when ``QMDR_DATABASE_URL`` is set, else ``<data dir>/tokens.sqlite``."""
    if settings.qmdr_database_url:
        from qmdr.access.tokens_postgres import PostgresTokenStore

        return PostgresTokenStore(settings.qmdr_database_url)
    from qmdr.access.tokens_sqlite import SqliteTokenStore

    return SqliteTokenStore(Path(settings.qmdr_data_dir) / TOKENS_FILE)
