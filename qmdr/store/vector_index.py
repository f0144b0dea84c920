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

Memory: 4 bytes x dim per distinct chunk text (100k x 384 = 154 MB), plus 16
bytes of text key per row and 16 per chunk (id, row, note): about 1,570 bytes a
vector at 384 dims, with no Python object per row. Rows are found by binary
search over the sorted 16-byte keys (``rows_of``), not a dict of hashes (which
cost ~200 bytes a row).

A snapshot is immutable once built. The store builds a new one when the index
generation changes, reusing the rows of the previous snapshot and fetching only
the vectors it lacks, then swaps it in; searches that hold the old one finish
on it undisturbed. Its rows are two segments: ``matrix``, the base (an array,
or a file mapped read-only by ``qmdr.store.vector_file``), and ``extra``, rows
added since, so a new row never copies the base; once garbage rows (texts no
chunk uses any more) pass ``MAX_GARBAGE_FRACTION``, one new base is compacted.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
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

#: a row's text key: 16 bytes (``text_keys``); rows are found by binary search over the sorted keys
KEY_BYTES = 16
KEY_HEX_CHARS = 2 * KEY_BYTES
KEY_DTYPE = np.dtype(f"S{KEY_BYTES}")
#: chunk -> row indexes: 4 bytes each (2 billion distinct texts is far beyond one SQLite index)
ROW_DTYPE = np.int32

#: the store's vectors for some hashes: a mapping, or (hash, vector or float32 blob) pairs as they are read
FetchVectors = Callable[[list[str]], Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray | bytes]]]
#: the store's answer to "which notes pass the stored-field part of this filter" (``where``, dates), asked
#: only when a snapshot has no selection cached for the filter
NotesPassing = Callable[[], Collection[str]]


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
    """An immutable snapshot of (model, generation): vectors by text hash, and the chunks using them.

    Rows live in two segments: ``matrix`` (the base: a memory-mapped snapshot
    file, or an array) and ``extra`` (rows added since, a view of a growable
    array). ``keys[r]`` identifies row ``r``'s text (``text_keys``).
    """

    def __init__(
        self,
        *,
        model: tuple[str, int],
        generation: int,
        matrix: np.ndarray,
        keys: np.ndarray,
        chunk_ids: np.ndarray,
        chunk_rows: np.ndarray,
        chunk_note: np.ndarray,
        note_paths: list[str],
        note_tags: list[frozenset[str]],
        extra: np.ndarray | None = None,
        extra_buffer: np.ndarray | None = None,
        keys_buffer: np.ndarray | None = None,
        epoch: int = 0,
    ) -> None:
        self.model = model
        self.epoch = epoch  # the store's vector_epoch: rows are only reused within one epoch
        self.generation = generation
        self.matrix = matrix  # base rows: 0 .. len(matrix) - 1
        self.extra = np.zeros((0, model[1]), np.float32) if extra is None else extra  # rows after the base
        self._extra_buffer = self.extra if extra_buffer is None else extra_buffer
        self.keys = keys  # one per row (base then extra): a view of the first rows of ``_keys_buffer``
        self._keys_buffer = keys if keys_buffer is None else keys_buffer
        self.chunk_ids = chunk_ids
        self.chunk_rows = chunk_rows
        self.chunk_note = chunk_note
        self.note_paths = note_paths
        self.note_tags = note_tags
        self._order: np.ndarray | None = None  # argsort of ``keys``, made on first lookup
        self._order_lock = threading.Lock()
        self._selections: OrderedDict[Filters, np.ndarray] = OrderedDict()
        self._selections_lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.model[1]

    @property
    def rows(self) -> int:
        """Distinct texts held (base plus extra rows; some may be garbage no chunk uses)."""
        return int(self.matrix.shape[0] + self.extra.shape[0])

    def __len__(self) -> int:
        """Number of chunks searchable in this snapshot."""
        return int(self.chunk_ids.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes this snapshot holds (mapped or in memory), spare capacity included."""
        arrays = (self.matrix, self._extra_buffer, self._keys_buffer, self.chunk_ids, self.chunk_rows, self.chunk_note)
        return int(sum(a.nbytes for a in arrays))

    @classmethod
    def empty(cls, model: tuple[str, int], generation: int) -> VectorIndex:
        return cls(
            model=model,
            generation=generation,
            matrix=np.zeros((0, model[1]), np.float32),
            keys=np.zeros(0, KEY_DTYPE),
            chunk_ids=np.zeros(0, np.int64),
            chunk_rows=np.zeros(0, ROW_DTYPE),
            chunk_note=np.zeros(0, np.int32),
            note_paths=[],
            note_tags=[],
        )

    def row_vector(self, row: int) -> np.ndarray:
        base = self.matrix.shape[0]
        return np.asarray(self.matrix[row] if row < base else self.extra[row - base])

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """The row holding each key (``text_keys``), or -1 where this snapshot has none."""
        if self.rows == 0 or keys.size == 0:
            return np.full(keys.shape[0], -1, np.int64)
        with self._order_lock:
            if self._order is None:
                self._order = np.argsort(self.keys, kind="stable").astype(ROW_DTYPE)
            order = self._order
        ordered = self.keys[order]
        at = np.minimum(np.searchsorted(ordered, keys), len(order) - 1)
        return np.where(ordered[at] == keys, order[at].astype(np.int64), -1)

    def vectors_for(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The vectors this snapshot holds for these chunk hashes (hashes it lacks are left out)."""
        wanted = list(dict.fromkeys(hashes))
        rows = self.rows_of(text_keys(wanted))
        return {h: self.row_vector(int(r)) for h, r in zip(wanted, rows, strict=True) if r >= 0}

    @classmethod
    def build(
        cls,
        *,
        model: tuple[str, int],
        generation: int,
        chunks: Iterable[tuple[int, str, str]],
        note_tags: Mapping[str, Iterable[str]],
        fetch_vectors: FetchVectors,
        previous: VectorIndex | None = None,
        fresh: Mapping[str, np.ndarray] | None = None,
        epoch: int = 0,
    ) -> VectorIndex:
        """A snapshot of ``chunks`` (id, note path, hash), reusing ``previous`` where it can.

        Vectors come, in order of preference, from ``previous``, from ``fresh``
        (what this process just wrote) and from ``fetch_vectors`` (the store),
        which may return a mapping or (hash, vector) pairs; each is written
        straight into its row, so a first load never holds a vector twice. A
        chunk whose hash has no vector anywhere is left out: it is still
        keyword-searchable, just not by similarity.
        """
        dim = model[1]
        ids, note_of, hashes, paths = _chunk_columns(chunks)
        keys = text_keys(hashes)
        unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        reuse = previous if previous is not None and (previous.model, previous.epoch) == (model, epoch) else None
        old_rows = reuse.rows_of(unique_keys) if reuse is not None else np.full(unique_keys.size, -1, np.int64)
        missing = np.flatnonzero(old_rows < 0)
        kept = int((old_rows >= 0).sum())
        garbage = (reuse.rows - kept) if reuse is not None else 0
        append = reuse is not None and garbage <= MAX_GARBAGE_FRACTION * max(reuse.rows, 1)
        # New vectors are written straight into the rows they will occupy: no second copy of the matrix.
        if append:
            # Keep every old row where it is (old snapshots keep seeing exactly their rows) and write new
            # ones after them, into spare capacity when there is some: the base is never copied.
            assert reuse is not None  # noqa: S101 (append implies a previous snapshot)
            base, used_extra = reuse.matrix, reuse.extra.shape[0]
            extra_buffer = _grown(reuse._extra_buffer, used_extra, used_extra + missing.size)
            landing = extra_buffer[used_extra : used_extra + missing.size]
            first_new_row = reuse.rows
        else:  # compact: only the rows some chunk still uses, in one new base
            keep = np.flatnonzero(old_rows >= 0)
            base = np.empty((keep.size + missing.size, dim), np.float32)
            if keep.size:
                assert reuse is not None  # noqa: S101 (kept rows come from a previous snapshot)
                base[: keep.size] = reuse.gather(old_rows[keep])
            landing = base[keep.size :]
            first_new_row = keep.size
        found = _fill(landing, [hashes[first[u]] for u in missing], fresh or {}, fetch_vectors, dim)
        if not found.all():  # texts with no vector anywhere (rare): close the gaps they left
            landing[: int(found.sum())] = landing[found]
            missing = missing[found]
        new_keys = unique_keys[missing]
        row_of_unique = old_rows.copy()
        if append:
            extra = extra_buffer[: used_extra + missing.size]
            keys_buffer = _grown(reuse._keys_buffer, reuse.rows, reuse.rows + missing.size)  # type: ignore[union-attr]
            keys_buffer[reuse.rows : reuse.rows + missing.size] = new_keys  # type: ignore[union-attr]
        else:
            base = base[: first_new_row + missing.size]
            extra = extra_buffer = None
            keys_buffer = np.empty(max(int(base.shape[0] * CAPACITY_GROWTH), MIN_CAPACITY), KEY_DTYPE)
            keys_buffer[:first_new_row] = unique_keys[keep]
            keys_buffer[first_new_row : base.shape[0]] = new_keys
            row_of_unique[keep] = np.arange(keep.size)
        row_of_unique[missing] = first_new_row + np.arange(missing.size)
        chunk_rows = row_of_unique[inverse]
        searchable = chunk_rows >= 0
        used_notes, chunk_note = np.unique(note_of[searchable], return_inverse=True)
        note_paths = [paths[i] for i in used_notes]
        rows_used = base.shape[0] + (0 if extra is None else extra.shape[0])
        return cls(
            model=model,
            generation=generation,
            matrix=base,
            extra=extra,
            extra_buffer=extra_buffer,
            keys=keys_buffer[:rows_used],
            keys_buffer=keys_buffer,
            epoch=epoch,
            chunk_ids=ids[searchable],
            chunk_rows=chunk_rows[searchable].astype(ROW_DTYPE),
            chunk_note=chunk_note.astype(np.int32).reshape(-1),
            note_paths=note_paths,
            note_tags=shared_tag_sets(note_tags.get(p, ()) for p in note_paths),
        )

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of ``rows`` (any mix of base and extra rows), as a new array."""
        base = self.matrix.shape[0]
        if self.extra.shape[0] == 0:
            return self.matrix[rows]
        out = np.empty((rows.size, self.dim), np.float32)
        in_base = rows < base
        out[in_base] = self.matrix[rows[in_base]]
        out[~in_base] = self.extra[rows[~in_base] - base]
        return out

    def _selection(self, filters: Filters, notes_passing: NotesPassing | None = None) -> np.ndarray | None:
        """Positions (into the chunk arrays) of chunks passing ``filters``; None for no filter.

        ``notes_passing`` answers the conditions on stored note fields (``where``,
        ``after``, ``before``), which the snapshot does not hold; it must read the
        committed state this snapshot was built from.
        """
        if is_unfiltered(filters):
            return None
        with self._selections_lock:
            cached = self._selections.get(filters)
            if cached is not None:
                self._selections.move_to_end(filters)
                return cached
        passing = None if notes_passing is None else set(notes_passing())
        if passing is not None and not filters.path_prefix and not filters.tags:
            # only stored-field conditions: one set lookup per note, no per-note rule evaluation
            note_ok = np.fromiter((p in passing for p in self.note_paths), dtype=bool, count=len(self.note_paths))
        else:
            note_ok = np.fromiter(
                (
                    note_matches(p, t, filters) and (passing is None or p in passing)
                    for p, t in zip(self.note_paths, self.note_tags, strict=True)
                ),
                dtype=bool,
                count=len(self.note_paths),
            )
        selection = np.flatnonzero(note_ok[self.chunk_note]) if len(note_ok) else np.zeros(0, np.int64)
        with self._selections_lock:
            self._selections[filters] = selection
            while len(self._selections) > SELECTION_CACHE_SIZE:
                self._selections.popitem(last=False)
        return selection

    def search(
        self, query: np.ndarray, k: int, filters: Filters = Filters(), notes_passing: NotesPassing | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` chunks most similar to ``query`` as (chunk id, dot product), best first.

        Filtered rows are masked before the top ``k`` is taken, so a filter that
        ``k`` chunks pass gives ``k`` results. Ties are broken by chunk id so
        results are deterministic. ``notes_passing``: see ``_selection``.
        """
        if k <= 0 or len(self) == 0:
            return []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(self.dim)
        selection = self._selection(filters, notes_passing)
        if selection is not None and selection.size == 0:
            return []
        rows = None if selection is None else self.chunk_rows[selection]
        gather = rows is not None and rows.size < GATHER_FRACTION * self.rows
        with query_blas_threads(rows.size if gather else self.rows):  # type: ignore[union-attr]
            if rows is None:
                ids = self.chunk_ids
                scores = self._products(query)[self.chunk_rows]
            else:
                ids = self.chunk_ids[selection]
                scores = self.gather(rows) @ query if gather else self._products(query)[rows]
        top = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        order = top[np.lexsort((ids[top], -scores[top]))]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def _products(self, query: np.ndarray) -> np.ndarray:
        """``row @ query`` for every row, base then extra."""
        if self.extra.shape[0] == 0:
            return self.matrix @ query
        return np.concatenate((self.matrix @ query, self.extra @ query))


def text_keys(hashes: list[str]) -> np.ndarray:
    """A 16-byte key per chunk hash: the first half of a hex sha256 (what the chunker makes) as bytes,
    else a blake2b digest of the string (each hash on its own: a key never depends on its neighbours).
    16 bytes a row instead of a dict entry (about 200 bytes); at 1M texts the chance of two sharing a
    key is about 1e-27."""
    if not hashes:
        return np.zeros(0, KEY_DTYPE)
    if all(len(h) >= KEY_HEX_CHARS for h in hashes):
        try:  # the usual case, in one call (fromhex skips spaces: a short result means some were)
            raw = bytes.fromhex("".join(h[:KEY_HEX_CHARS] for h in hashes))
        except ValueError:
            raw = b""
        if len(raw) == KEY_BYTES * len(hashes):
            return np.frombuffer(raw, KEY_DTYPE).copy()
    return np.array([_text_key(h) for h in hashes], KEY_DTYPE)


def shared_tag_sets(tag_lists: Iterable[Iterable[str]]) -> list[frozenset[str]]:
    """One frozenset per note, equal sets shared: most notes carry no tags or the same few, and a
    frozenset costs 216 bytes (22 bytes a vector at 1M chunks in 100k notes, if each had its own)."""
    shared: dict[frozenset[str], frozenset[str]] = {}
    return [shared.setdefault(tags, tags) for tags in map(frozenset, tag_lists)]


def _text_key(chunk_hash: str) -> bytes:
    if len(chunk_hash) >= KEY_HEX_CHARS:
        try:
            raw = bytes.fromhex(chunk_hash[:KEY_HEX_CHARS])
        except ValueError:
            raw = b""
        if len(raw) == KEY_BYTES:
            return raw
    return hashlib.blake2b(chunk_hash.encode(), digest_size=KEY_BYTES).digest()


def _chunk_columns(chunks: Iterable[tuple[int, str, str]]) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(ids, note index per chunk, hash per chunk, note paths) from (id, path, hash) rows, read once."""
    ids = array("q")
    note_of = array("i")
    hashes: list[str] = []
    paths: dict[str, int] = {}
    for chunk_id, path, chunk_hash in chunks:
        ids.append(chunk_id)
        note_of.append(paths.setdefault(path, len(paths)))
        hashes.append(chunk_hash)
    return (
        np.frombuffer(ids, np.int64).copy() if ids else np.zeros(0, np.int64),
        np.frombuffer(note_of, np.int32).copy() if note_of else np.zeros(0, np.int32),
        hashes,
        list(paths),
    )


def _fill(
    rows: np.ndarray, hashes: list[str], fresh: Mapping[str, np.ndarray], fetch_vectors: FetchVectors, dim: int
) -> np.ndarray:
    """Write the vector of ``hashes[i]`` into ``rows[i]``, from ``fresh`` or else ``fetch_vectors``;
    returns which rows were found."""
    found = np.zeros(len(hashes), bool)
    slot_of: dict[str, int] = {}
    for slot, chunk_hash in enumerate(hashes):
        vector = fresh.get(chunk_hash)
        if vector is not None:
            rows[slot] = np.asarray(vector, np.float32).reshape(dim)
            found[slot] = True
        else:
            slot_of[chunk_hash] = slot
    if slot_of:
        fetched = fetch_vectors(list(slot_of))
        for chunk_hash, vector in fetched.items() if isinstance(fetched, Mapping) else fetched:
            slot = slot_of.get(chunk_hash)
            if slot is not None:
                rows[slot] = (
                    np.frombuffer(vector, np.float32)
                    if isinstance(vector, bytes)
                    else np.asarray(vector, np.float32).reshape(dim)
                )
                found[slot] = True
    return found


def _grown(buffer: np.ndarray, used: int, needed: int) -> np.ndarray:
    """``buffer`` if it has room for ``needed`` rows, else a larger copy of its first ``used`` rows."""
    if needed <= buffer.shape[0]:
        return buffer
    grown = np.empty((max(int(needed * CAPACITY_GROWTH), MIN_CAPACITY), *buffer.shape[1:]), buffer.dtype)
    grown[:used] = buffer[:used]
    return grown
