"""Base of the small database-wide tables kept in PostgreSQL beside the vaults (registry, feedback).

With ``QMDR_DATABASE_URL`` set, replicas must agree on which vaults exist and on
agents' votes, so those live in the schema ``qmdr_shared`` of the same database
(``qmdr.store.migrations.postgres.SHARED_TABLES``), on the process's shared pool.
Failures to reach the server become ``StoreUnavailable`` (HTTP 503), as for vault indexes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from qmdr.errors import StoreError
from qmdr.store.migrations import postgres as schema
from qmdr.store.pg_pool import CONNECT_TIMEOUT_SECONDS, SharedPool, acquire_pool, release_pool
from qmdr.store.postgres import connection_failure, describe_url

#: the registry and feedback need few connections; the pool is shared with the vaults anyway
SHARED_TABLES_POOL_SIZE = 4


class SharedTables:
    """Opens (and creates) the shared tables at ``url``; subclasses query them through ``_transaction``."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._where = describe_url(url)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                schema.migrate_shared(conn)
        except psycopg.OperationalError as exc:
            raise connection_failure(self._where, exc) from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot create qmdr's tables in PostgreSQL ({self._where}): "
                f"{exc.__class__.__name__}; check QMDR_DATABASE_URL"
            ) from exc
        self._shared: SharedPool | None = acquire_pool(url, SHARED_TABLES_POOL_SIZE)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where})"  # never the URL: it may carry a password

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """One transaction on a pooled connection; unreachable server -> ``StoreUnavailable``."""
        if self._shared is None:
            raise StoreError(f"{type(self).__name__} is closed")
        try:
            with self._shared.pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:
            raise connection_failure(self._where, exc) from exc

    def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            release_pool(self._url, shared)
