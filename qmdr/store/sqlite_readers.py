"""Read connections for one SQLite index file, so searches never queue behind a writer.

SQLite in WAL mode lets any number of readers see the last commit while one
writer works, but only on *separate connections*: a connection shared with the
writer must be locked for the whole write transaction (or a search would see
uncommitted rows), which is what made searches wait seconds during a rebuild.
So a file store keeps its writer connection to itself and lends searches
connections from a ``ReaderPool``.

A vector snapshot (``qmdr.store.vector_index``) is built from one read
transaction; chunk ids in it mean what they meant *in that state* (a rebuild
deletes and re-inserts every chunk, and SQLite may hand an old id to a new
chunk). A ``PinnedView`` therefore keeps the builder's read transaction open
beside the snapshot, until the next view replaces it: a search that finds the
latest commit ahead of the snapshot (the window between a commit and the swap)
reads from the pinned state instead, so keyword hits, vector hits and the rows
that hydrate them all come from one committed state, and a search never sees
chunks vanish under it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import apsw

if TYPE_CHECKING:  # only named in annotations: opening a store for a keyword search loads no vector code
    from qmdr.store.vector_index import VectorIndex

#: read connections per file store: each holds sqlite-vec and a page cache (a few MB); more than the
#: searches that can run at once on a small machine buys nothing, and a search waits for a free one
MAX_READERS = 8


def end_read(conn: apsw.Connection) -> None:
    """Close the read transaction ``conn`` may be in (nothing to keep: it never writes)."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class ReaderPool:
    """At most ``size`` read connections, opened on demand and lent one at a time."""

    def __init__(self, connect: Callable[[], apsw.Connection], size: int = MAX_READERS) -> None:
        if size < 1:
            raise ValueError(f"a reader pool needs at least one connection, not {size}")
        self._connect = connect
        self._size = size
        self._idle: list[apsw.Connection] = []
        self._open = 0
        self._closed = False
        self._available = threading.Condition()

    def take(self) -> apsw.Connection:
        """An idle connection, a new one while under ``size``, else the next one given back."""
        with self._available:
            while True:
                if self._closed:
                    raise apsw.ConnectionClosedError("the index was closed")
                if self._idle:
                    return self._idle.pop()
                if self._open < self._size:
                    self._open += 1
                    break
                self._available.wait()
        try:
            return self._connect()
        except BaseException:
            with self._available:
                self._open -= 1
                self._available.notify()
            raise

    def give(self, conn: apsw.Connection) -> None:
        """Take ``conn`` back (its read transaction ended); closed instead once the pool is."""
        try:
            end_read(conn)
        except apsw.Error:  # a broken connection is not lent again
            conn.close()
            with self._available:
                self._open -= 1
                self._available.notify()
            return
        with self._available:
            if self._closed:
                self._open -= 1
                conn.close()
            else:
                self._idle.append(conn)
            self._available.notify()

    def close(self) -> None:
        """Close idle connections now; lent ones are closed when given back."""
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._available.notify_all()
        for conn in idle:
            conn.close()


@dataclass(eq=False)
class PinnedView:
    """A vector snapshot and the read transaction it was built in (``conn``; None for in-memory stores).

    ``lock`` serialises use of ``conn``; once ``retired`` (a newer view took its
    place) the connection is back in the pool and must not be used.
    """

    snapshot: VectorIndex
    conn: apsw.Connection | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    retired: bool = False

    @property
    def generation(self) -> int:
        return self.snapshot.generation

    def retire(self, pool: ReaderPool | None) -> None:
        """Hand the pinned connection back; waits for a search reading through it to finish."""
        with self.lock:
            self.retired = True
            if self.conn is not None and pool is not None:
                pool.give(self.conn)
            self.conn = None
