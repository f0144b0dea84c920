"""Index storage behind the ``Store`` protocol (``qmdr.store.base``).

Backends are imported from their own modules so that opening one never loads
the other's driver: ``qmdr.store.sqlite.SqliteStore`` (embedded default) and
``qmdr.store.postgres.PostgresStore``.
"""

from qmdr.store.base import EmbeddingCache, Filters, Hit, IndexChange, IndexStats, Store

__all__ = ["EmbeddingCache", "Filters", "Hit", "IndexChange", "IndexStats", "Store"]
