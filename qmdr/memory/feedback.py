"""Feedback from agents: was a result useful? Counted per (vault, note) in a small SQLite file.

Counts are per *note*, not per chunk: a chunk's identity (its text hash)
changes with every edit, while a note that helped once tends to help again.
The counts feed the usefulness prior of ``qmdr.search.boosts`` (off unless
``QMDR_FEEDBACK_WEIGHT`` > 0).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from qmdr.util.small_db import SmallSqliteFile

#: the feedback file under the data dir
FEEDBACK_FILE = "feedback.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    vault TEXT NOT NULL,
    path TEXT NOT NULL,
    useful INTEGER NOT NULL DEFAULT 0,
    not_useful INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (vault, path)
);
"""


class FeedbackStore(SmallSqliteFile):
    """``FeedbackStore(path)``: record votes, read them back per note."""

    SCHEMA = SCHEMA

    def record(self, vault: str, path: str, useful: bool) -> tuple[int, int]:
        """Add one vote; return the note's (useful, not_useful) counts after it."""
        column = "useful" if useful else "not_useful"
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO feedback(vault, path, {column}, updated_at) VALUES (?, ?, 1, ?) "  # noqa: S608
                f"ON CONFLICT(vault, path) DO UPDATE SET {column} = {column} + 1, updated_at = excluded.updated_at",
                (vault, path, time.time()),
            )
            row = conn.execute(
                "SELECT useful, not_useful FROM feedback WHERE vault = ? AND path = ?", (vault, path)
            ).fetchone()
        return int(row[0]), int(row[1])

    def votes(self, vault: str, paths: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(useful, not_useful) of each of ``paths`` that has any vote."""
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT path, useful, not_useful FROM feedback WHERE vault = ? "  # noqa: S608
                f"AND path IN ({','.join('?' * len(wanted))})",
                (vault, *wanted),
            ).fetchall()
        return {path: (int(u), int(n)) for path, u, n in rows}
