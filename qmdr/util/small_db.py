"""A small stdlib-sqlite3 file with a schema: the base of the vault registry and the feedback store.

Neither needs extensions, so the stdlib module is enough; each call opens its
own connection (safe across threads and processes) in WAL mode, and each
``with self._connect()`` block is one transaction: commit on success, rollback
on error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

#: how long a write waits for another process's transaction before "database is locked"
BUSY_TIMEOUT_S = 10.0


class SmallSqliteFile:
    """Subclasses set ``SCHEMA`` (idempotent DDL, run at open)."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(self.SCHEMA)

    def close(self) -> None:
        """Nothing to release: each call opens and closes its own connection (here for the shared protocol)."""

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection per call, one transaction per ``with``."""
        with closing(sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                yield conn
