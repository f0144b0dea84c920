"""Agents' feedback in PostgreSQL (``qmdr_shared.feedback``), for replicas sharing ``QMDR_DATABASE_URL``.

Same behaviour as ``qmdr.memory.feedback.FeedbackStore`` (the SQLite file): a vote
is one upsert, so two replicas counting the same note at once both count.
Picked by ``qmdr.memory.backends.open_feedback_store``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from psycopg import sql

from qmdr.store.pg_shared import SharedTables


class PostgresFeedbackStore(SharedTables):
    """``PostgresFeedbackStore(url)``: record votes, read them back per note."""

    def record(self, vault: str, path: str, useful: bool) -> tuple[int, int]:
        """Add one vote; return the note's (useful, not_useful) counts after it."""
        column = sql.Identifier("useful" if useful else "not_useful")
        statement = sql.SQL(
            "INSERT INTO qmdr_shared.feedback (vault, path, {column}, updated_at) VALUES (%s, %s, 1, %s) "
            "ON CONFLICT (vault, path) DO UPDATE SET {column} = feedback.{column} + 1, "
            "updated_at = excluded.updated_at RETURNING useful, not_useful"
        ).format(column=column)
        with self._transaction() as conn:
            row = conn.execute(statement, (vault, path, time.time())).fetchone()
        return int(row[0]), int(row[1])

    def votes(self, vault: str, paths: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(useful, not_useful) of each of ``paths`` that has any vote."""
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT path, useful, not_useful FROM qmdr_shared.feedback WHERE vault = %s AND path = ANY(%s)",
                (vault, wanted),
            ).fetchall()
        return {path: (int(u), int(n)) for path, u, n in rows}
