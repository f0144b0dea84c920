"""Exact nearest-neighbour search over an in-memory float32 matrix, kept in step with the store.

Why not sqlite-vec's own KNN: ``vec0`` answers a float KNN by scanning every
vector in SQLite pages, measured at 42.8 ms (earlier) and 70 ms (here) per query
on 100k x 384 vectors, against about 6 ms for a numpy brute-force scan of the
same matrix (``benchmarks/store_knn.py``). The vec0 table therefore stays the
*durable* copy of the vectors (and a fallback, ``vector_search="vec0"``), while
searches run on this snapshot: one BLAS matrix-vector product, a gather from
distinct-text rows to chunks, and ``argpartition`` for the top k. It is exact, so
recall against brute force is 1.0 by construction.

Content addressing carries over: the matrix has one row per distinct chunk
*hash*; ``chunk_rows`` maps every chunk to its row, so duplicated text costs
one row and one dot product.

Memory: 4 bytes x dim per distinct chunk text (100k x 384 = 154 MB).

A snapshot is immutable once built. The store builds a new one when the index
generation changes, reusing the rows of the previous snapshot and fetching only
the vectors it lacks, then swaps it in; searches that hold the old one finish
on it undisturbed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache

import numpy as np

from qmdr.store.base import Filters
from qmdr.store.filtering import is_unfiltered, note_matches

#: rows whose text no chunk uses anymore stay in the matrix until they exceed this share of it;
#: then the next refresh compacts. Leftover rows cost a dot product each but never surface in results.
MAX_GARBAGE_FRACTION = 0.25
#: spare rows allocated when the matrix grows (x current size), so that small reindexes append new
#: vectors in place instead of copying the whole matrix; 10% costs 15 MB at 100k x 384
CAPACITY_GROWTH = 1.1
#: smallest allocation, so tiny indexes do not reallocate on every change
MIN_CAPACITY = 1024
#: chunk selections for this many distinct filters are cached per snapshot (an agent reuses a few filters)
SELECTION_CACHE_SIZE = 64
#: below this share of the matrix a filtered search multiplies only the selected rows, which is
#: cheaper than the full product once the gather of rows costs less than the rows it skips
GATHER_FRACTION = 0.25

#: BLAS threads for a small query product. One: OpenBLAS's second thread spin-waits for a core, and a
#: 10k x 384 product took 21-37 ms on two threads against 1.4 ms on one on a loaded 2-core machine
#: (benchmarks/nearest_threads.py). None leaves BLAS as configured for every size.
QUERY_BLAS_THREADS: int | None = 1
#: from this many rows up the product is left to BLAS's own threads: at 100k and 1M x 384 two threads
#: were 1.0-1.4x faster than one in the same runs, so the hold is measured to pay only below this
SINGLE_THREAD_MAX_ROWS = 50_000

FetchVectors = Callable[[list[str]], Mapping[str, np.ndarray]]


@cache
def _blas_controller() -> object:
    """threadpoolctl's view of the loaded BLAS, built once (it scans the process's shared libraries)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _SharedBlasHold:
    """One process-wide BLAS limit shared by every query holding it, lifted when the last one leaves.

    threadpoolctl's limit is process-wide and restores what it found on entry. Searches run in
    threads: with one limit each, a search entering while another held the limit would note one
    thread as the original, leave last and keep BLAS on one thread for good. Counting holders
    under a lock makes the first entry set the limit and the last exit restore it.
    """

    def __init__(self, controller: Callable[[], object] | None = None) -> None:
        self._controller = controller or _blas_controller  # threadpoolctl's, or a recording one in tests
        self._lock = threading.Lock()
        self._holders = 0
        self._limiter: object | None = None

    @contextmanager
    def hold(self, threads: int) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._limiter = self._controller().limit(limits=threads, user_api="blas")  # type: ignore[attr-defined]
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._limiter is not None:
                    self._limiter.restore_original_limits()  # type: ignore[attr-defined]
                    self._limiter = None


_SHARED_HOLD = _SharedBlasHold()


def query_blas_threads(rows: int) -> AbstractContextManager[object]:
    """Hold BLAS to ``QUERY_BLAS_THREADS`` for one query's product over ``rows`` rows (restored afterwards).

    The limit is process-wide while held (see ``_SharedBlasHold``); the embedder holds BLAS to one
    thread while it embeds, so the two agree on what they set.
    """
    if QUERY_BLAS_THREADS is None or rows >= SINGLE_THREAD_MAX_ROWS:
        return nullcontext()
    return _SHARED_HOLD.hold(QUERY_BLAS_THREADS)


class VectorIndex:
    """An immutable snapshot of (model, generation): vectors by text hash, and the chunks using them."""

    def __init__(self, *, model: tuple[str, int], generation: int, matrix: np.ndarray, row_of: dict[str, int],
                 chunk_ids: np.ndarray, chunk_rows: np.ndarray, chunk_note: np.ndarray,
                 note_paths: list[str], note_tags: list[frozenset[str]],
                 buffer: np.ndarray | None = None, epoch: int = 0) -> None:
        self.model = model
        self.epoch = epoch  # the store's vector_epoch: rows are only reused within one epoch
        self.generation = generation
        self.matrix = matrix  # the rows in use: a view of the first rows of ``_buffer``
        self._buffer = matrix if buffer is None else buffer
        self.row_of = row_of
        self.chunk_ids = chunk_ids
        self.chunk_rows = chunk_rows
        self.chunk_note = chunk_note
        self.note_paths = note_paths
        self.note_tags = note_tags
        self._selections: OrderedDict[Filters, np.ndarray] = OrderedDict()
        self._selections_lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.model[1]

    def __len__(self) -> int:
        """Number of chunks searchable in this snapshot."""
        return int(self.chunk_ids.shape[0])

    @classmethod
    def empty(cls, model: tuple[str, int], generation: int) -> VectorIndex:
        return cls(model=model, generation=generation, matrix=np.zeros((0, model[1]), np.float32), row_of={},
                   chunk_ids=np.zeros(0, np.int64), chunk_rows=np.zeros(0, np.int64),
                   chunk_note=np.zeros(0, np.int32), note_paths=[], note_tags=[])

    @classmethod
    def build(cls, *, model: tuple[str, int], generation: int, chunks: Iterable[tuple[int, str, str]],
              note_tags: Mapping[str, Iterable[str]], fetch_vectors: FetchVectors,
              previous: VectorIndex | None = None,
              fresh: Mapping[str, np.ndarray] | None = None, epoch: int = 0) -> VectorIndex:
        """A snapshot of ``chunks`` (id, note path, hash), reusing ``previous`` where it can.

        Vectors come, in order of preference, from ``previous``, from ``fresh``
        (what this process just wrote) and from ``fetch_vectors`` (the store).
        A chunk whose hash has no vector anywhere is left out: it is still
        keyword-searchable, just not by similarity.
        """
        chunk_list = list(chunks)
        needed = list(dict.fromkeys(h for _, _, h in chunk_list))
        reuse = previous if previous is not None and (previous.model, previous.epoch) == (model, epoch) else None
        old_rows = reuse.row_of if reuse is not None else {}
        missing = [h for h in needed if h not in old_rows]
        fresh = fresh or {}
        got = {h: fresh[h] for h in missing if h in fresh}
        still = [h for h in missing if h not in got]
        if still:
            got.update(fetch_vectors(still))

        kept = [h for h in needed if h in old_rows]
        new_hashes = [h for h in missing if h in got]
        new_rows = (np.stack([np.asarray(got[h], np.float32).reshape(model[1]) for h in new_hashes])
                    if new_hashes else np.zeros((0, model[1]), np.float32))
        garbage = len(old_rows) - len(kept)
        if reuse is not None and garbage <= MAX_GARBAGE_FRACTION * max(len(old_rows), 1):
            # Keep every old row where it is (old snapshots keep seeing exactly their rows) and
            # write new ones after them, into spare capacity when there is some: no 100 MB copy.
            used = reuse.matrix.shape[0]
            buffer = reuse._buffer
            if used + len(new_hashes) > buffer.shape[0]:
                capacity = max(int((used + len(new_hashes)) * CAPACITY_GROWTH), MIN_CAPACITY)
                buffer = np.empty((capacity, model[1]), np.float32)
                buffer[:used] = reuse.matrix
            buffer[used:used + len(new_hashes)] = new_rows
            row_of = dict(old_rows) if new_hashes else old_rows
            row_of.update({h: used + i for i, h in enumerate(new_hashes)})
            size = used + len(new_hashes)
        else:  # compact: only the rows some chunk still uses
            size = len(kept) + len(new_hashes)
            buffer = np.empty((max(int(size * CAPACITY_GROWTH), MIN_CAPACITY), model[1]), np.float32)
            if kept:
                buffer[:len(kept)] = reuse.matrix[[old_rows[h] for h in kept]]  # type: ignore[union-attr]
            buffer[len(kept):size] = new_rows
            row_of = {h: i for i, h in enumerate(kept + new_hashes)}

        paths: dict[str, int] = {}
        ids, rows, notes = [], [], []
        for chunk_id, path, chunk_hash in chunk_list:
            row = row_of.get(chunk_hash)
            if row is None:
                continue
            ids.append(chunk_id)
            rows.append(row)
            notes.append(paths.setdefault(path, len(paths)))
        note_paths = list(paths)
        return cls(model=model, generation=generation, matrix=buffer[:size], buffer=buffer, epoch=epoch,
                   row_of=row_of,
                   chunk_ids=np.asarray(ids, np.int64), chunk_rows=np.asarray(rows, np.int64),
                   chunk_note=np.asarray(notes, np.int32), note_paths=note_paths,
                   note_tags=[frozenset(note_tags.get(p, ())) for p in note_paths])

    def _selection(self, filters: Filters) -> np.ndarray | None:
        """Positions (into the chunk arrays) of chunks passing ``filters``; None for no filter."""
        if is_unfiltered(filters):
            return None
        with self._selections_lock:
            cached = self._selections.get(filters)
            if cached is not None:
                self._selections.move_to_end(filters)
                return cached
        note_ok = np.fromiter((note_matches(p, t, filters) for p, t in zip(self.note_paths, self.note_tags,
                                                                              strict=True)),
                              dtype=bool, count=len(self.note_paths))
        selection = np.flatnonzero(note_ok[self.chunk_note]) if len(note_ok) else np.zeros(0, np.int64)
        with self._selections_lock:
            self._selections[filters] = selection
            while len(self._selections) > SELECTION_CACHE_SIZE:
                self._selections.popitem(last=False)
        return selection

    def search(self, query: np.ndarray, k: int, filters: Filters = Filters()) -> list[tuple[int, float]]:
        """The ``k`` chunks most similar to ``query`` as (chunk id, dot product), best first.

        Ties are broken by chunk id so results are deterministic.
        """
        if k <= 0 or len(self) == 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(self.dim)
        selection = self._selection(filters)
        if selection is not None and selection.size == 0:
            return []
        rows = None if selection is None else self.chunk_rows[selection]
        gather = rows is not None and rows.size < GATHER_FRACTION * self.matrix.shape[0]
        with query_blas_threads(rows.size if gather else self.matrix.shape[0]):  # type: ignore[union-attr]
            if rows is None:
                ids = self.chunk_ids
                scores = (self.matrix @ query)[self.chunk_rows]
            else:
                ids = self.chunk_ids[selection]
                scores = self.matrix[rows] @ query if gather else (self.matrix @ query)[rows]
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        order = top[np.lexsort((ids[top], -scores[top]))]
        return [(int(ids[i]), float(scores[i])) for i in order]

