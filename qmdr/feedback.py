"""Feedback from agents: was a result useful? Counted per (vault, note) in a small SQLite file.

Counts are per *note*, not per chunk: a chunk's identity (its text hash)
changes with every edit, while a note that helped once tends to help again.
The counts feed the usefulness prior of ``qmdr.boosts`` (off unless
``QMDR_FEEDBACK_WEIGHT`` > 0).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

#: the feedback file under the data dir
FEEDBACK_FILE = "feedback.sqlite"
#: a writer waits this long for another process holding the file before failing
FEEDBACK_BUSY_TIMEOUT_S = 10.0

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


class FeedbackStore:
    """``FeedbackStore(path)``: record votes, read them back per note."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=FEEDBACK_BUSY_TIMEOUT_S)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                yield conn

    def record(self, vault: str, path: str, useful: bool) -> tuple[int, int]:
        """Add one vote; return the note's (useful, not_useful) counts after it."""
        column = "useful" if useful else "not_useful"
        with self._connect() as conn:
            conn.execute(
                f"INSERT INTO feedback(vault, path, {column}, updated_at) VALUES (?, ?, 1, ?) "  # noqa: S608
                f"ON CONFLICT(vault, path) DO UPDATE SET {column} = {column} + 1, updated_at = excluded.updated_at",
                (vault, path, time.time()))
            row = conn.execute("SELECT useful, not_useful FROM feedback WHERE vault = ? AND path = ?",
                               (vault, path)).fetchone()
        return int(row[0]), int(row[1])

    def votes(self, vault: str, paths: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(useful, not_useful) of each of ``paths`` that has any vote."""
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT path, useful, not_useful FROM feedback WHERE vault = ? "  # noqa: S608
                f"AND path IN ({','.join('?' * len(wanted))})", (vault, *wanted)).fetchall()
        return {path: (int(u), int(n)) for path, u, n in rows}
