"""Keeps a store's in-memory keyword index (``qmdr.store.keyword_index``) in step with its commits.

Why a keeper: the index pays only in a long-lived process, describes exactly
one commit, and costs about a second of CPU per 10k chunks to build. So it is
built only once asked (``want``, from the store's ``warm()``), handed out only
to a search reading the very commit it was built from (``current``), and after
a change rebuilt on a thread of its own once writes have settled: a reindex
commits batch after batch, and building after each would spend a core on
states nobody searches. Builds are also spaced by five times their own
duration, so they never take more than a sixth of a core. Until the rebuild lands, the store ranks with FTS5,
which gives the same results, only slower.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import apsw

if TYPE_CHECKING:  # the index (numpy) is imported by the first build: a store nobody warms never loads it
    from qmdr.store.keyword_index import KeywordIndex, QueryTokenizer

log = logging.getLogger(__name__)

#: the index is rebuilt once changes have stopped for this long...
SETTLE_S = 0.5
#: ...or once it has been behind for this long, or for this many times its last build's duration if that is
#: longer, so a steady stream of note writes still gets it caught up while costing at most a fifth of a core
MAX_BEHIND_S = 10.0
MAX_BEHIND_BUILDS = 5.0
#: after a build the next one waits at least this many times its duration: rebuilds then cost at most a
#: sixth of a core whatever the pattern of writes (a 100k-chunk vault takes 8-12 s of CPU to rebuild)
REST_BUILDS = 5.0

#: a read transaction of the latest commit on a connection of its own (the store's ``_read``)
Reader = Callable[[], AbstractContextManager[apsw.Connection]]


class KeywordIndexKeeper:
    """One store's keyword index over time. ``reader`` is None for an in-memory store (one connection:
    the index is built on the searching connection itself, which is small by nature)."""

    def __init__(
        self, reader: Reader | None, generation_of: Callable[[apsw.Connection], int], weights: Sequence[float]
    ) -> None:
        self._reader = reader
        self._generation_of = generation_of
        self._weights = tuple(weights)
        self.wanted = False
        self.index: KeywordIndex | None = None
        self.tokenizer: QueryTokenizer | None = None
        self._declined: int | None = None  # the generation found too large to hold in memory
        self._lock = threading.Lock()  # guards the thread and dirty flag
        self._build_lock = threading.Lock()  # one build at a time
        self._thread: threading.Thread | None = None
        self._dirty = False
        self._build_seconds = 0.0  # how long the last build took
        self._rested_at = 0.0  # time.monotonic() before which the next build does not start (REST_BUILDS)
        self._closing = threading.Event()  # set by close(): the thread stops waiting

    def want(self, conn: apsw.Connection | None = None) -> None:
        """Keep the index from now on, and build it now (on ``conn``'s state, for an in-memory store)."""
        self.wanted = True
        self._build(conn)

    def current(self, conn: apsw.Connection) -> KeywordIndex | None:
        """The index of ``conn``'s committed state, if there is one (and a rebuild asked for if not)."""
        if not self.wanted:
            return None
        index = self.index
        if index is not None and index.generation == self._generation_of(conn):
            return index
        if self._reader is None:
            return self._build(conn)
        self.changed()
        return None

    def with_terms(self, conn: apsw.Connection, pieces: Sequence[str]) -> tuple[KeywordIndex, list[list[str]]] | None:
        """The index of ``conn``'s state and each query piece's indexed terms (FTS5's tokens), or None
        when there is no such index (``current``)."""
        index = self.current(conn)
        if index is None or self.tokenizer is None:
            return None
        return index, [self.tokenizer.terms(piece) for piece in pieces]

    def describe(self, generation: int) -> dict[str, object]:
        """What ``/health`` and ``qmdr status`` say of the index, for the store's latest ``generation``."""
        index = self.index
        if not self.wanted:
            return {"state": "not kept (FTS5 ranks: a one-shot command)"}
        if self._declined == generation:
            return {"state": "too large for memory (FTS5 ranks)"}
        if index is None or index.generation != generation:
            return {"state": "catching up (FTS5 ranks meanwhile)"}
        return {"state": "current", "chunks": len(index), "postings": index.postings, "bytes": index.nbytes}

    def changed(self) -> None:
        """A commit happened (or was found): rebuild on the keeper's thread once writes settle; returns at once."""
        if not self.wanted or self._reader is None:
            return
        with self._lock:
            self._dirty = True
            if self._thread is not None or self._closing.is_set():
                return
            self._thread = threading.Thread(target=self._keep, name="qmdr-keyword-index", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread; waits for a build in progress (it holds one of the store's reader connections)."""
        with self._lock:
            self._closing.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _keep(self) -> None:
        """The keeper's thread: once changes settle (``SETTLE_S``) and the last build has rested
        (``REST_BUILDS``), rebuild; end when no change is left."""
        while True:
            with self._lock:
                if self._closing.is_set() or not self._dirty:
                    self._thread = None
                    return
                self._dirty = False
            behind_since = time.monotonic()
            patience = max(MAX_BEHIND_S, MAX_BEHIND_BUILDS * self._build_seconds)
            while not self._closing.wait(SETTLE_S):
                with self._lock:
                    if not self._dirty or time.monotonic() - behind_since >= patience:
                        break
                    self._dirty = False  # another change came: wait for it to settle too
            rest = self._rested_at - time.monotonic()
            if self._closing.is_set() or (rest > 0 and self._closing.wait(rest)):
                continue  # ends the thread above
            try:
                self._build()
            except Exception as exc:  # FTS5 keeps answering; the next change or search tries again
                with self._lock:
                    self._thread = None
                    if not self._closing.is_set():
                        log.warning("building the in-memory keyword index failed (FTS5 ranks meanwhile): %s", exc)
                return

    def _build(self, conn: apsw.Connection | None = None) -> KeywordIndex | None:
        """Build the index of the latest commit (or of ``conn``'s state) and publish it.

        Skipped when the current one is already of that state, or that state was
        found too large for memory (``keyword_index.MAX_POSTINGS``).
        """
        from qmdr.store.keyword_index import QueryTokenizer

        with self._build_lock:
            if self.tokenizer is None:
                self.tokenizer = QueryTokenizer()
            if conn is not None:
                return self._publish(conn)
            assert self._reader is not None  # noqa: S101 (a store without readers passes its connection)
            with self._reader() as reader:
                return self._publish(reader)

    def _publish(self, conn: apsw.Connection) -> KeywordIndex | None:
        generation = self._generation_of(conn)
        current = self.index
        if current is not None and current.generation == generation:
            return current
        if self._declined == generation:
            return None
        from qmdr.store.keyword_index import KeywordIndex

        started = time.monotonic()
        index = KeywordIndex.build(conn, generation, self._weights)
        self._build_seconds = time.monotonic() - started
        self._rested_at = time.monotonic() + REST_BUILDS * self._build_seconds
        if index is None:
            self._declined, self.index = generation, None
            log.info("the keyword index is too large to hold in memory; FTS5 ranks every keyword search")
        else:
            self.index = index
        return index
