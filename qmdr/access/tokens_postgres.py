"""Agent tokens in PostgreSQL (``qmdr_shared.tokens``), so replicas on one ``QMDR_DATABASE_URL`` share them:
a token made or revoked on one replica counts on every other at its next request."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg.types.json import Jsonb

from qmdr.access.tokens import Right, TokenInfo, hashes_match, name_taken, now
from qmdr.store.pg_shared import SharedTables


class PostgresTokenStore(SharedTables):
    """``PostgresTokenStore(url)``: add, find by hash, list, remove."""

    def add(self, name: str, hashed: str, vaults: Mapping[str, Right]) -> TokenInfo:
        info = TokenInfo(name=name, vaults=dict(vaults), created_at=now())
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO qmdr_shared.tokens (name, token_hash, vaults, created_at) VALUES (%s, %s, %s, %s)",
                    (name, hashed, Jsonb(dict(vaults)), info.created_at),
                )
        except psycopg.errors.UniqueViolation as exc:
            raise name_taken(name) from exc
        return info

    def find(self, hashed: str) -> TokenInfo | None:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT name, token_hash, vaults, created_at FROM qmdr_shared.tokens WHERE token_hash = %s", (hashed,)
            ).fetchone()
        if row is None or not hashes_match(row[1], hashed):
            return None
        return TokenInfo(name=row[0], vaults=dict(row[2]), created_at=float(row[3]))

    def list(self) -> list[TokenInfo]:
        with self._transaction() as conn:
            rows = conn.execute("SELECT name, vaults, created_at FROM qmdr_shared.tokens ORDER BY name").fetchall()
        return [TokenInfo(name=n, vaults=dict(v), created_at=float(c)) for n, v, c in rows]

    def remove(self, name: str) -> bool:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM qmdr_shared.tokens WHERE name = %s", (name,)).rowcount > 0
