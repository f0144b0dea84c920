"""Agent tokens in a small SQLite file (``<data dir>/tokens.sqlite``): name, SHA-256, vaults.

``find`` runs on every request that carries an agent token, so it reads through
a connection kept per thread (opening one per call, as the other small files
do, cost ~0.7 ms a lookup; a kept one ~0.02 ms). Each lookup is its own read
transaction in WAL mode, so a token made or revoked by another process (the
CLI) counts at the very next request.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

from qmdr.access.tokens import Right, TokenInfo, hashes_match, name_taken, now
from qmdr.util.small_db import BUSY_TIMEOUT_S, SmallSqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    vaults TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


def _info(name: str, vaults: str, created_at: float) -> TokenInfo:
    return TokenInfo(name=name, vaults=json.loads(vaults), created_at=float(created_at))


class SqliteTokenStore(SmallSqliteFile):
    """``SqliteTokenStore(path)``: add, find by hash, list, remove."""

    SCHEMA = SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (autocommit: every SELECT sees the latest committed state)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()

    def add(self, name: str, hashed: str, vaults: Mapping[str, Right]) -> TokenInfo:
        info = TokenInfo(name=name, vaults=dict(vaults), created_at=now())
        try:
            with self._connect() as conn:
                conn.execute(
                    "INSERT INTO tokens(name, token_hash, vaults, created_at) VALUES (?, ?, ?, ?)",
                    (name, hashed, json.dumps(dict(vaults), sort_keys=True), info.created_at),
                )
        except sqlite3.IntegrityError as exc:
            raise name_taken(name) from exc
        return info

    def find(self, hashed: str) -> TokenInfo | None:
        row = (
            self._reader()
            .execute("SELECT name, token_hash, vaults, created_at FROM tokens WHERE token_hash = ?", (hashed,))
            .fetchone()
        )
        if row is None or not hashes_match(row[1], hashed):
            return None
        return _info(row[0], row[2], row[3])

    def list(self) -> list[TokenInfo]:
        with self._connect() as conn:
            rows = conn.execute("SELECT name, vaults, created_at FROM tokens ORDER BY name").fetchall()
        return [_info(*row) for row in rows]

    def remove(self, name: str) -> bool:
        with self._connect() as conn:
            return conn.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount > 0
