"""Agent tokens in a small SQLite file (``<data dir>/tokens.sqlite``): name, SHA-256, vaults."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from qmdr.access.tokens import Right, TokenInfo, hashes_match, name_taken, now
from qmdr.util.small_db import SmallSqliteFile

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

    def add(self, name: str, hashed: str, vaults: Mapping[str, Right]) -> TokenInfo:
        info = TokenInfo(name=name, vaults=dict(vaults), created_at=now())
        try:
            with self._connect() as conn:
                conn.execute("INSERT INTO tokens(name, token_hash, vaults, created_at) VALUES (?, ?, ?, ?)",
                             (name, hashed, json.dumps(dict(vaults), sort_keys=True), info.created_at))
        except sqlite3.IntegrityError as exc:
            raise name_taken(name) from exc
        return info

    def find(self, hashed: str) -> TokenInfo | None:
        with self._connect() as conn:
            row = conn.execute("SELECT name, token_hash, vaults, created_at FROM tokens WHERE token_hash = ?",
                               (hashed,)).fetchone()
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
