"""The embedded index: one SQLite file (apsw) with FTS5 for keywords and sqlite-vec for vectors.

Tables (``SCHEMA``):

* ``meta``: key/value: ``schema_version``, ``model_id``/``dim`` of the stored
  vectors, ``last_reindex``, ``generation`` (bumped by every write that changes
  what a search can return, so any connection notices a reindex by reading one
  row), ``vector_epoch`` (bumped whenever all vectors are dropped), ``index_id``
  (random, made with the file: a snapshot file of another index is never read), and
  ``IndexChange.meta`` keys such as the indexer's chunking parameters.
* ``notes`` (path primary key; tags, frontmatter, links and dates as JSON;
  ``note_date``, the note's date as POSIX seconds) and ``note_tags`` (normalised
  tag keys) and ``note_fields`` (frontmatter terms, ``qmdr.store.filtering``), for
  filtering in SQL (schema 3; an older index is backfilled from its rows when opened).
* ``chunks``: one row per chunk, ``note_path`` cascading from ``notes``, ``hash``
  the content address of its text.
* ``chunks_fts``: FTS5 over (note title, heading trail, chunk text), tokenizer
  ``porter unicode61 remove_diacritics 2`` (English stemming, any script, accents
  folded). It is *contentless* (``content=''``, ``contentless_delete=1``): the
  text already lives in ``chunks``, so FTS5 keeps only its inverted index (no
  second copy of every chunk), and two triggers on ``chunks`` keep it in step,
  reading the title from ``notes``. We never need FTS5's ``snippet()`` (search
  builds its own), which is the one thing contentless tables cannot do.
* ``chunks_trigram`` (schema 2): FTS5 with the ``trigram`` tokenizer over the
  text of the chunks that hold characters of a script written without spaces
  (``qmdr.search.keyword_query.UNSPACED_RANGES``: Chinese, Japanese, Korean, Thai, ...).
  unicode61 makes a whole run of such characters one token, so 東京 inside
  東京タワーに行った is not a token; the trigram index finds any substring of 3+
  characters. Contentless like ``chunks_fts`` and kept in step by two triggers;
  only chunks that need it are indexed, so a vault without those scripts pays
  nothing. An index from schema 1 is backfilled when opened.
* ``vectors``: a sqlite-vec ``vec0`` table keyed by chunk *hash* (one vector per
  distinct text, cosine metric), created for the recorded dimension. The durable
  copy of the index's vectors; vectors no chunk references are deleted in the
  same transaction that orphans them.
* ``embedding_cache``: (model_id, dim, hash) -> vector for every vector ever
  written, never pruned by reindexing, so ``--rebuild``, switching back to an
  earlier model, or resuming a killed reindex never re-pays for text embedded before.

Keyword ranking: FTS5 ``bm25`` with column weights ``BM25_WEIGHTS``. A query
holding unspaced-script characters is also run on ``chunks_trigram`` (runs of
3+ characters, as OR-ed trigrams) or, when every such run is 1-2 characters, as
a substring scan of at most ``SHORT_RUN_SCAN_ROWS`` chunks of the trigram table;
when both that list and the unicode61 list found something they are fused by
RRF (a chunk both found ranks first) and ``score`` is the RRF score, otherwise
``score`` is the one list's own (-bm25, or the number of short runs found).
Vector search: by default an exact scan of an in-memory snapshot
(``qmdr.store.vector_index``, reloaded incrementally when ``generation``
changes); ``vector_search="vec0"`` uses sqlite-vec's KNN instead. A file store
keeps a large snapshot in ``<index>.vectors`` (``qmdr.store.vector_file``) and
maps it when it opens, reading from SQLite only the vectors added since.

Concurrency: WAL, so readers never wait for the one writer and see the last
commit. A file store keeps one connection for writes (under ``_lock``) and lends
every read its own connection from a ``ReaderPool`` (``qmdr.store.sqlite_readers``):
a search never waits for a write transaction, however long. The vector snapshot
is published as a ``PinnedView`` (snapshot plus the read transaction it was
built in) by one assignment, so it is never seen empty or half-built; a search
that finds the latest commit ahead of the view (between a commit and the swap)
reads from the view's pinned state, so its keyword and vector hits come from one
committed state. After each commit that changes what searches return, the writer
itself builds the next view before ``apply`` returns (a writer then reads its
own writes); a commit by another process is picked up by the next vector search,
which builds while other searches keep answering from the previous view. One
build at a time (``_build_lock``). An in-memory database cannot be opened twice,
so there one connection serves everything under ``_lock`` (such indexes are
small). ``warm()`` builds the snapshot ahead of the first search (the server
calls it at start). Writes start with ``BEGIN IMMEDIATE`` so two writers queue on
``busy_timeout`` instead of failing mid-transaction; past the timeout the caller
gets ``IndexBusy``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import importlib.util
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import apsw

from qmdr.errors import IndexBusy, ModelMismatch, StoreError
from qmdr.search.fusion import reciprocal_rank_fusion
from qmdr.search.keyword_query import (
    UNSPACED_GLOB,
    join_pieces,
    keyword_pieces,
    quote,
    short_unspaced_runs,
    trigram_query,
)
from qmdr.store.base import Filters, Hit, IndexChange, IndexStats
from qmdr.store.filtering import field_terms, filter_tag_keys, filters_notes, tag_key
from qmdr.store.keyword_keeper import KeywordIndexKeeper
from qmdr.store.sqlite_readers import PinnedView, ReaderPool, end_read
from vault.frontmatter import note_timestamp
from vault.model import Chunk, Note

if TYPE_CHECKING:  # numpy, the vector snapshot and the in-memory keyword index (built once warm() asks) are
    # imported by the methods that use them: a CLI keyword search (FTS5 ranks it) or `qmdr status` never
    # loads them, and numpy alone costs such a call ~60 ms
    import numpy as np

    from qmdr.store.keyword_index import PhraseScores
    from qmdr.store.vector_index import VectorIndex

log = logging.getLogger(__name__)

#: bump when SCHEMA changes incompatibly; an index written by a newer qmdr is refused, not misread.
#: 2: ``chunks_trigram`` (backfilled from ``chunks`` when a schema 1 index is opened)
#: 3: ``notes.note_date`` and ``note_fields`` for metadata and date filters (backfilled from ``notes``)
SCHEMA_VERSION = 3
#: a writer waits this long for another writer before IndexBusy: a first index of a large vault holds
#: the write lock for a few seconds while it inserts; readers never wait (WAL)
BUSY_TIMEOUT_MS = 10_000
#: bm25 weights for (title, heading trail, chunk text): a term in the note's title or in the chunk's
#: headings says the chunk is *about* it, a term in the body may be a passing mention. The chunk text
#: also contains its heading trail, so headings already count once there; 2.0 adds a second vote.
BM25_WEIGHTS = (4.0, 2.0, 1.0)
#: ids/hashes per ``IN (...)`` list: far below the 999-variable limit of older SQLite builds
SQL_BATCH = 500
#: sqlite-vec's limit on ``k`` in a vec0 KNN query (SQLITE_VEC_VEC0_K_MAX)
VEC0_MAX_K = 4096
#: sqlite-vec refuses vectors longer than this (SQLITE_VEC_VEC0_MAX_DIMENSIONS)
MAX_DIM = 8192
#: when a snapshot lacks more than this share of the stored vectors, one scan of the vec0 table beats
#: point lookups (measured on 100k x 384: 15 us per row scanned, 27 us per lookup)
SCAN_INSTEAD_OF_LOOKUP = 0.5
#: a first snapshot reads vectors from the embedding cache (a plain table, 2.5x faster to scan than
#: vec0) unless the cache holds more than this many times as many vectors for the model (old history)
CACHE_SCAN_MAX_RATIO = 2.0
#: vectors kept in memory between a write and the next snapshot (about 77 MB at 384 dims); a first
#: index larger than this is read back from the table, which then costs about 15 us per vector
FRESH_MAX_VECTORS = 50_000
#: a query whose unspaced-script runs are all 1-2 characters (shorter than a trigram) is answered by
#: scanning chunk text; at most this many chunks of the trigram table (those holding such scripts) are
#: scanned, oldest first, so the scan stays in the tens of milliseconds on any vault (about 1 KB each)
SHORT_RUN_SCAN_ROWS = 20_000
#: a vector search retries this many times to find a view of the latest commit (a writer in another
#: process may commit between its build and its read); then it answers from the view it has
VIEW_ATTEMPTS = 3
#: a snapshot of at least this many distinct texts is saved beside the index (``<index>.vectors``) and
#: mapped from there: reading it back from SQLite costs about 15 us a vector (1.5 s at 100k), mapping ~0
PERSIST_MIN_ROWS = 20_000
#: a saved snapshot is saved again once the rows added since (held in memory, read from SQLite at a
#: restart) exceed this share of it; each save writes every row, 1.5 GB at 1M x 384
PERSIST_EXTRA_FRACTION = 0.05

REBUILD_HINT = "run `qmdr index --rebuild` to re-embed with the new model (text embedded before is reused)"

#: meta keys the store maintains itself; ``IndexChange.meta`` may not overwrite them
RESERVED_META = frozenset(
    {"schema_version", "model_id", "dim", "generation", "last_reindex", "vector_epoch", "index_id"}
)

VectorSearch = Literal["memory", "vec0"]
#: called on the building thread with the number of chunks a vector snapshot is about to load
SnapshotHook = Callable[[int], None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notes (
    path TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    frontmatter TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    links TEXT NOT NULL DEFAULT '[]',
    dates TEXT NOT NULL DEFAULT '{}',
    indexed_at TEXT NOT NULL,
    note_date REAL
);
CREATE TABLE IF NOT EXISTS note_tags (
    tag TEXT NOT NULL,
    note_path TEXT NOT NULL REFERENCES notes(path) ON DELETE CASCADE,
    PRIMARY KEY (tag, note_path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS note_tags_by_note ON note_tags(note_path);
CREATE TABLE IF NOT EXISTS note_fields (
    term TEXT NOT NULL,
    note_path TEXT NOT NULL REFERENCES notes(path) ON DELETE CASCADE,
    PRIMARY KEY (term, note_path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS note_fields_by_note ON note_fields(note_path);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    note_path TEXT NOT NULL REFERENCES notes(path) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    heading_trail TEXT NOT NULL DEFAULT '[]',
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    text TEXT NOT NULL,
    hash TEXT NOT NULL,
    UNIQUE (note_path, ordinal)
);
CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks(hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, headings, body,
    content='', contentless_delete=1,
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, title, headings, body) VALUES (
        new.id,
        (SELECT title FROM notes WHERE path = new.note_path),
        (SELECT group_concat(value, ' ') FROM json_each(new.heading_trail)),
        new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.id;
END;
CREATE TABLE IF NOT EXISTS embedding_cache (
    id INTEGER PRIMARY KEY,
    model_id TEXT NOT NULL,
    dim INTEGER NOT NULL,
    hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (model_id, dim, hash)
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0'), ('vector_epoch', '0'),
    ('index_id', lower(hex(randomblob(16))));
"""

# Only chunks holding an unspaced-script character are indexed (the WHEN); every delete is passed on,
# so the table stays right even if the ranges change between versions.
TRIGRAM_SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_trigram USING fts5(
    body, content='', contentless_delete=1, tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS chunks_trigram_insert AFTER INSERT ON chunks
WHEN new.text GLOB '{UNSPACED_GLOB}' BEGIN
    INSERT INTO chunks_trigram(rowid, body) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_trigram_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_trigram WHERE rowid = old.id;
END;
"""  # noqa: S608 (a constant GLOB class, no user text)

# After ``_migrate``: an index from before schema 3 has no ``note_date`` column until then.
NOTE_DATE_INDEX = "CREATE INDEX IF NOT EXISTS notes_by_date ON notes(note_date);"

_HIT_COLUMNS = "c.id, c.hash, c.note_path, n.title, c.heading_trail, c.start_line, c.end_line, c.text, n.tags"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> str:
    """JSON for a column; frontmatter may hold YAML dates, which become ISO strings."""
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=isinstance(value, dict))


def _batches(items: Sequence[Any], size: int = SQL_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


@cache
def sqlite_vec_library() -> str:
    """The path ``sqlite_vec.loadable_path()`` returns, found without importing the ``sqlite_vec`` package:
    its ``__init__`` imports numpy (~60 ms a CLI call) for a helper qmdr does not use."""
    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None or spec.origin is None:
        raise StoreError("the sqlite-vec package is not installed: `pip install sqlite-vec`")
    return os.path.join(os.path.dirname(spec.origin), "vec0")


def _connect(target: str, busy_timeout_ms: int) -> apsw.Connection:
    """A connection with sqlite-vec loaded (the ``vectors`` table needs it even to be read)."""
    conn = apsw.Connection(target)
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec_library())
    conn.enable_load_extension(False)
    conn.set_busy_timeout(busy_timeout_ms)
    return conn


def _meta_value(conn: apsw.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _generation(conn: apsw.Connection) -> int:
    return int(_meta_value(conn, "generation") or 0)


def _model(conn: apsw.Connection) -> tuple[str, int] | None:
    model_id, dim = _meta_value(conn, "model_id"), _meta_value(conn, "dim")
    return None if model_id is None or dim is None else (model_id, int(dim))


def _has_vectors_table(conn: apsw.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'vectors' AND type = 'table'").fetchone() is not None


def _stored_among(conn: apsw.Connection, hashes: Iterable[str]) -> set[str]:
    """Those of ``hashes`` the ``vectors`` table holds.

    Asked of sqlite-vec's key table (``vectors_rowids``, indexed on the text
    key) in batches: vec0 itself answers ``WHERE hash = ?`` by a scan (about
    2 ms a lookup at 100k rows). If a sqlite-vec version lays out its tables
    otherwise, each hash is looked up through vec0 as before.
    """
    wanted = list(dict.fromkeys(hashes))
    if not wanted or not _has_vectors_table(conn):
        return set()
    found: set[str] = set()
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'vectors_rowids' AND type = 'table'").fetchone():
        for batch in _batches(wanted):
            found.update(
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM vectors_rowids WHERE id IN ({_placeholders(len(batch))})",  # noqa: S608
                    tuple(batch),
                )
            )
        return found
    for chunk_hash in wanted:
        if conn.execute("SELECT 1 FROM vectors WHERE hash = ?", (chunk_hash,)).fetchone() is not None:
            found.add(chunk_hash)
    return found


def _hit(row: Sequence[Any], score: float) -> Hit:
    chunk_id, chunk_hash, path, title, trail, start, end, text, tags = row
    return Hit(
        chunk_id=chunk_id,
        chunk_hash=chunk_hash,
        note_path=path,
        title=title,
        heading_trail=tuple(json.loads(trail)),
        start_line=start,
        end_line=end,
        text=text,
        score=float(score),
        tags=tuple(json.loads(tags)),
    )


def _filter_sql(filters: Filters, path: str = "c.note_path") -> tuple[str, list[Any]]:
    """SQL conditions on the note path column ``path`` for ``filters`` (``qmdr.store.filtering`` says
    what they mean; ``note_matches`` is the same path and tag test for the vector snapshot)."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.path_prefix:
        clauses.append(f"substr({path}, 1, ?) = ?")
        params += [len(filters.path_prefix), filters.path_prefix]
    tags = filter_tag_keys(filters)
    if tags:
        clauses.append(
            f"{path} IN (SELECT note_path FROM note_tags"  # noqa: S608 (placeholders only)
            f" WHERE tag IN ({_placeholders(len(tags))}) GROUP BY note_path HAVING count(*) = ?)"
        )
        params += [*tags, len(tags)]
    for _, terms in filters.where:  # each key: one of its terms (any-of); all keys must hold
        clauses.append(
            f"{path} IN (SELECT note_path FROM note_fields"  # noqa: S608 (placeholders only)
            f" WHERE term IN ({_placeholders(len(terms))}))"
        )
        params += list(terms)
    if filters.after is not None or filters.before is not None:
        bounds = []
        if filters.after is not None:
            bounds.append("note_date >= ?")
            params.append(filters.after)
        if filters.before is not None:
            bounds.append("note_date < ?")
            params.append(filters.before)
        clauses.append(f"{path} IN (SELECT path FROM notes WHERE {' AND '.join(bounds)})")  # noqa: S608
    return "".join(f" AND {clause}" for clause in clauses), params


def _fuse_keyword_lists(lists: Mapping[str, list[Hit]], k: int) -> list[Hit]:
    """One keyword list: the only non-empty one as it is, or several fused by RRF (score = RRF score)."""
    found = {name: hits for name, hits in lists.items() if hits}
    if len(found) <= 1:
        return next(iter(found.values()), [])
    by_id = {hit.chunk_id: hit for hits in found.values() for hit in hits}
    fused = reciprocal_rank_fusion({name: [hit.chunk_id for hit in hits] for name, hits in found.items()})
    return [dataclasses.replace(by_id[chunk_id], score=score) for chunk_id, score in fused[:k]]


class SqliteStore:
    """The ``Store`` protocol on one SQLite file: ``SqliteStore(path)`` or ``SqliteStore(memory=True)``."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        memory: bool = False,
        vector_search: VectorSearch = "memory",
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        on_snapshot_build: SnapshotHook | None = None,
    ) -> None:
        """``on_snapshot_build`` is called (on the building thread) before a vector snapshot loads,
        with its chunk count: for progress reports, and for tests that hold a build open."""
        if memory == (path is not None):
            raise ValueError("give either a path or memory=True")
        if vector_search not in ("memory", "vec0"):
            raise ValueError(f"vector_search must be 'memory' or 'vec0', not {vector_search!r}")
        self.path = None if memory else Path(path)  # type: ignore[arg-type]
        self.vector_search = vector_search
        self._lock = threading.RLock()  # the writer connection (and, in memory, the only one)
        self._build_lock = threading.Lock()  # taken before _lock, never while holding it
        self._busy_timeout_ms = busy_timeout_ms
        self._on_snapshot_build = on_snapshot_build
        self._reindex_mutex = threading.Lock()
        self._view: PinnedView | None = None  # replaced whole, by one assignment, under _build_lock
        self._pool: ReaderPool | None = None if memory else ReaderPool(self._connect_reader)
        # vectors this process committed since the last snapshot, so the next one need not read them back
        self._fresh_lock = threading.Lock()
        self._fresh: dict[str, np.ndarray] = {}
        self._fresh_key: tuple[tuple[str, int] | None, int] | None = None  # (model, vector_epoch)
        # the in-memory keyword index, kept once warm() asks for it (qmdr.store.keyword_keeper says why)
        self._keyword_keeper = KeywordIndexKeeper(None if memory else self._read, _generation, BM25_WEIGHTS)
        try:
            self._conn = _connect(":memory:" if memory else str(self.path), busy_timeout_ms)
            if not memory:
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a crashed *process* never loses a commit; only a power cut can drop
                # the last one, and the index is rebuildable from the vault anyway
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            with self._write():
                self._conn.execute(SCHEMA + TRIGRAM_SCHEMA)
                self._migrate()
                self._conn.execute(NOTE_DATE_INDEX)
        except apsw.Error as exc:
            raise StoreError(f"cannot open the index at {self.path or ':memory:'}: {exc}") from exc
        version = int(self._meta("schema_version") or 0)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the index at {self.path} was written by a newer qmdr (schema {version}); "
                "upgrade qmdr or index into a new file"
            )

    def _migrate(self) -> None:
        """Inside the opening write transaction: bring an older index up to ``SCHEMA_VERSION``.

        SCHEMA has just created any missing table (all ``IF NOT EXISTS``); here
        the new tables are filled from existing rows. A fresh file is recorded
        as current; a newer one is left untouched (and refused by the caller).
        """
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._set_meta("schema_version", str(SCHEMA_VERSION))
            return
        version = int(row[0])
        if version >= SCHEMA_VERSION:
            return
        if version < 2:  # noqa: PLR2004 (schema 2 added chunks_trigram)
            self._conn.execute(
                "INSERT INTO chunks_trigram(rowid, body) SELECT id, text FROM chunks WHERE text GLOB ?",
                (UNSPACED_GLOB,),
            )
        if version < 3:  # noqa: PLR2004 (schema 3 added note_date and note_fields)
            self._backfill_note_filters()
        self._set_meta("schema_version", str(SCHEMA_VERSION))

    def _backfill_note_filters(self) -> None:
        """Schema 3: fill ``notes.note_date`` and ``note_fields`` from the stored frontmatter, dates and mtime.

        The stored JSON is what indexing stores from, so the result is what a
        reindex would write, and no note needs reading (or embedding) again.
        """
        if "note_date" not in {row[1] for row in self._conn.execute("PRAGMA table_info(notes)")}:
            self._conn.execute("ALTER TABLE notes ADD COLUMN note_date REAL")
        rows = self._conn.execute("SELECT path, frontmatter, dates, mtime FROM notes").fetchall()
        for path, frontmatter, dates, mtime in rows:
            self._write_note_filters(path, json.loads(frontmatter), json.loads(dates), mtime)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path) if self.path else 'memory=True'})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections; waits for a snapshot or keyword index build in progress (each uses one)."""
        self._keyword_keeper.close()
        with self._build_lock, self._lock:
            view, self._view = self._view, None
            if view is not None:
                view.retire(self._pool)
            if self._pool is not None:
                self._pool.close()
            self._conn.close()

    def _connect_reader(self) -> apsw.Connection:
        return _connect(str(self.path), self._busy_timeout_ms)

    @property
    def _snapshot(self) -> VectorIndex | None:
        """The vector snapshot searches use now (None before the first build)."""
        view = self._view
        return None if view is None else view.snapshot

    # --- transactions ---------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, started IMMEDIATE; apsw errors become StoreError/IndexBusy."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except (apsw.BusyError, apsw.LockedError) as exc:
                raise IndexBusy("another process is writing this index; wait for its reindex to end") from exc
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, apsw.BusyError | apsw.LockedError):
                    raise IndexBusy("another process is writing this index; try again shortly") from exc
                if isinstance(exc, apsw.Error):
                    raise StoreError(f"index write failed and was rolled back: {exc}") from exc
                raise

    @contextmanager
    def _read(self) -> Iterator[apsw.Connection]:
        """A connection in a read transaction of the latest commit: every statement sees one state.

        A file store lends a reader connection (never waits for a writer); in
        memory the one connection is used under ``_lock``.
        """
        if self._pool is None:
            with self._lock:
                nested = self._conn.in_transaction  # a write transaction of this thread reading its own rows
                if not nested:
                    self._conn.execute("BEGIN")
                try:
                    yield self._conn
                finally:
                    if not nested:
                        end_read(self._conn)
            return
        conn = self._pool.take()
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            self._pool.give(conn)

    def _meta(self, key: str) -> str | None:
        with self._read() as conn:
            return _meta_value(conn, key)

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _bump_generation(self) -> None:
        self._conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def generation(self) -> int:
        """A counter bumped by every committed change to what searches can return (any process)."""
        with self._read() as conn:
            return _generation(conn)

    def _has_vector_table(self) -> bool:
        """Inside a write transaction: does the ``vectors`` table exist?"""
        return _has_vectors_table(self._conn)

    # --- embedding model ------------------------------------------------------------------------
    def embedding_model(self) -> tuple[str, int] | None:
        with self._read() as conn:
            return _model(conn)

    def _vector_count(self, conn: apsw.Connection | None = None) -> int:
        conn = conn or self._conn
        if not _has_vectors_table(conn):
            return 0
        return conn.execute("SELECT count(*) FROM vectors").fetchone()[0]

    def _drop_vectors(self) -> None:
        self._conn.execute("DROP TABLE IF EXISTS vectors")
        self._conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'vector_epoch'")
        self._conn.execute("DELETE FROM meta WHERE key IN ('model_id', 'dim')")

    def _record_model(self, model_id: str, dim: int) -> None:
        """Inside a write transaction: make (model_id, dim) the index's model, or refuse."""
        if not model_id or not 0 < dim <= MAX_DIM:
            raise StoreError(f"invalid embedding model {model_id!r} with {dim} dimensions (1..{MAX_DIM})")
        current = _model(self._conn)
        if current == (model_id, dim) and self._has_vector_table():
            return
        if current is not None and current != (model_id, dim) and self._vector_count():
            raise ModelMismatch(
                f"this index holds vectors from {current[0]} ({current[1]} dimensions) but the embedder is "
                f"{model_id} ({dim} dimensions); {REBUILD_HINT}",
                stored=current,
                requested=(model_id, dim),
            )
        self._drop_vectors()
        self._conn.execute(
            f"CREATE VIRTUAL TABLE vectors USING vec0("
            f"hash TEXT PRIMARY KEY, embedding float[{int(dim)}] distance_metric=cosine)"
        )
        self._set_meta("model_id", model_id)
        self._set_meta("dim", str(int(dim)))
        self._bump_generation()

    def set_embedding_model(self, model_id: str, dim: int) -> None:
        """Record the model; ModelMismatch if another model's vectors are stored (rebuild first)."""
        with self._write():
            self._record_model(model_id, dim)
        self._after_commit()

    def reset_vectors(self) -> None:
        """Drop every stored vector and the recorded model (notes and chunks stay keyword-searchable)."""
        with self._write():
            self._drop_vectors()
            self._bump_generation()
        self._after_commit()

    @contextmanager
    def reindex_lock(self) -> Iterator[None]:
        """Hold the reindex lock for the ``with`` body; IndexBusy at once if another reindex holds it.

        Non-blocking on purpose: a second reindex should be told, not queued
        behind minutes of embedding. For a file it is an ``flock`` on
        ``<index>.reindex-lock`` (released by the OS if the process dies); for
        an in-memory store, a mutex.
        """
        if self.path is None:
            if not self._reindex_mutex.acquire(blocking=False):
                raise IndexBusy("a reindex of this index is already running")
            try:
                yield
            finally:
                self._reindex_mutex.release()
            return
        fd = os.open(f"{self.path}.reindex-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise IndexBusy(f"another reindex of {self.path} is running; wait for it to finish") from exc
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- what is indexed ------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        return self._meta(key)

    def note_hashes(self) -> dict[str, str]:
        with self._read() as conn:
            return dict(conn.execute("SELECT path, content_hash FROM notes").fetchall())

    def known_hashes(self) -> set[str]:
        """Hashes with a vector for the current model, in the index or in the embedding cache.

        A cached hash needs no embedding: ``apply`` restores its vector from the
        cache when a chunk with that text comes back.
        """
        with self._read() as conn:
            model = _model(conn)
            if model is None:
                return set()
            rows = conn.execute(
                "SELECT hash FROM vectors UNION SELECT hash FROM embedding_cache WHERE model_id = ? AND dim = ?", model
            )
            return {row[0] for row in rows}

    def hashes_without_vector(self) -> set[str]:
        """Chunk texts the index has no vector for (e.g. after ``reset_vectors``); usually empty.

        Every stored vector belongs to some chunk (orphans are deleted), so equal
        counts prove there is nothing missing without comparing 100k hashes.
        """
        with self._read() as conn:
            texts = conn.execute("SELECT count(DISTINCT hash) FROM chunks").fetchone()[0]
            if texts == self._vector_count(conn):
                return set()
            have = {row[0] for row in conn.execute("SELECT hash FROM vectors")} if _has_vectors_table(conn) else set()
            return {row[0] for row in conn.execute("SELECT DISTINCT hash FROM chunks")} - have

    # --- embedding cache (qmdr.store.base.EmbeddingCache) -----------------------------------------
    def cached_hashes(self, model_id: str, dim: int, hashes: Iterable[str]) -> set[str]:
        """Those of ``hashes`` that (model_id, dim) has embedded before (any model, not just the current)."""
        wanted = list(dict.fromkeys(hashes))
        found: set[str] = set()
        with self._read() as conn:
            for batch in _batches(wanted):
                rows = conn.execute(
                    f"SELECT hash FROM embedding_cache WHERE model_id = ? AND dim = ? "  # noqa: S608
                    f"AND hash IN ({_placeholders(len(batch))})",
                    (model_id, dim, *batch),
                )
                found.update(row[0] for row in rows)
        return found

    def cache_vectors(self, model_id: str, dim: int, vectors: Mapping[str, np.ndarray]) -> None:
        """Keep vectors by (model, hash) now, before the index itself changes (its own transaction)."""
        rows = [(model_id, dim, h, self._vector_blob(v, dim, h)) for h, v in vectors.items()]
        with self._write():
            self._conn.executemany(
                "INSERT OR IGNORE INTO embedding_cache(model_id, dim, hash, vector) VALUES (?, ?, ?, ?)", rows
            )

    @staticmethod
    def _vector_blob(vector: np.ndarray, dim: int, chunk_hash: str) -> bytes:
        import numpy as np

        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (dim,):
            raise StoreError(f"vector for chunk {chunk_hash[:12]} has shape {array.shape}, expected ({dim},)")
        if not np.isfinite(array).all():
            raise StoreError(f"vector for chunk {chunk_hash[:12]} holds NaN or infinity")
        return array.tobytes()

    # --- writing --------------------------------------------------------------------------------
    def apply(self, change: IndexChange) -> None:
        """Apply all of ``change`` in one transaction: all of it or none.

        Order: model (and ``replace_vectors``), deletes, upserts (a note's old
        chunks go, its new ones come), vectors (each validated on the way in:
        a bad one rolls everything back), then vectors no chunk references any
        more are deleted and ``generation`` is bumped.
        """
        bad_meta = RESERVED_META.intersection(change.meta)
        if bad_meta:
            raise StoreError(f"meta keys {sorted(bad_meta)} are maintained by the store itself")
        live: dict[str, np.ndarray] = {}
        with self._write():
            if change.replace_vectors:
                self._drop_vectors()
            if change.model is not None:
                self._record_model(*change.model)
            orphan_candidates: set[str] = set()
            for path in change.deletes:
                orphan_candidates |= self._delete_note(path)
            now = _now()
            for note, chunks in change.upserts:
                orphan_candidates |= self._delete_note(note.path)
                self._insert_note(note, chunks, now)
            new_hashes = {chunk.hash for _, chunks in change.upserts for chunk in chunks}
            if change.vectors or new_hashes:
                live = self._store_vectors(change.vectors, new_hashes)
            # only text that lost a chunk can be orphaned (given vectors are stored only when used)
            self._delete_orphan_vectors(orphan_candidates - new_hashes)
            for key, value in change.meta.items():
                self._set_meta(key, value)
            self._set_meta("last_reindex", now)
            if change.upserts or change.deletes or change.vectors or change.replace_vectors:
                self._bump_generation()
            key = (_model(self._conn), int(_meta_value(self._conn, "vector_epoch") or 0))
        self._remember_fresh(key, live)
        self._after_commit()

    def _after_commit(self) -> None:
        """Bring a loaded vector view up to the commit just made, so this writer's next search sees it.

        Searches meanwhile answer from the previous view. A build already running
        (a search catching up with another process) may have read the state
        before this commit, so the writer waits for it and builds again if so.
        Skipped when no view is loaded (nobody searched yet: the first search
        builds one).
        """
        if self._view is not None and self.vector_search == "memory" and self._pool is not None:
            self._refresh_view()
        self._keyword_keeper.changed()

    def _remember_fresh(self, key: tuple[tuple[str, int] | None, int], vectors: dict[str, np.ndarray]) -> None:
        """After a commit: keep what was written for the next snapshot, within ``FRESH_MAX_VECTORS``."""
        with self._fresh_lock:
            if key != self._fresh_key:
                self._fresh, self._fresh_key = {}, key
            if len(self._fresh) + len(vectors) > FRESH_MAX_VECTORS:
                self._fresh.clear()  # the snapshot will read them from the table instead
                return
            self._fresh.update(vectors)

    def _delete_note(self, path: str) -> set[str]:
        """Delete a note (chunks, tags and FTS rows cascade); return the hashes its chunks used."""
        rows = self._conn.execute("SELECT hash FROM chunks WHERE note_path = ?", (path,))
        hashes = {row[0] for row in rows}
        self._conn.execute("DELETE FROM notes WHERE path = ?", (path,))
        return hashes

    def _insert_note(self, note: Note, chunks: Sequence[Chunk], indexed_at: str) -> None:
        for chunk in chunks:
            if chunk.note_path != note.path:
                raise StoreError(f"chunk {chunk.ordinal} of {note.path} claims note {chunk.note_path}")
        self._conn.execute(
            "INSERT INTO notes(path, title, tags, frontmatter, content_hash, mtime, size, links, dates,"
            " indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                note.path,
                note.title,
                _json(list(note.tags)),
                _json(note.frontmatter),
                note.content_hash,
                float(note.mtime),
                int(note.size),
                _json(list(note.links)),
                _json(note.dates),
                indexed_at,
            ),
        )
        keys = {tag_key(t) for t in note.tags} - {""}
        self._conn.executemany(
            "INSERT INTO note_tags(tag, note_path) VALUES (?, ?)", [(key, note.path) for key in sorted(keys)]
        )
        # the frontmatter as stored (dates as ISO strings), so terms match a backfill from the JSON column
        self._write_note_filters(note.path, json.loads(_json(note.frontmatter)), note.dates, note.mtime)
        self._conn.executemany(
            "INSERT INTO chunks(note_path, ordinal, heading_trail, start_line, end_line, text, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (c.note_path, c.ordinal, _json(list(c.heading_trail)), c.start_line, c.end_line, c.text, c.hash)
                for c in chunks
            ],
        )

    def _write_note_filters(
        self, path: str, frontmatter: dict[str, Any], dates: dict[str, Any], mtime: float | None
    ) -> None:
        """The filterable form of one stored note: its date (``note_timestamp``) and frontmatter terms."""
        self._conn.execute("UPDATE notes SET note_date = ? WHERE path = ?", (note_timestamp(dates, mtime), path))
        self._conn.executemany(
            "INSERT OR IGNORE INTO note_fields(term, note_path) VALUES (?, ?)",
            [(term, path) for term in field_terms(frontmatter)],
        )

    def _store_vectors(self, vectors: Mapping[str, np.ndarray], new_hashes: set[str]) -> dict[str, np.ndarray]:
        """Cache every given vector and store those a chunk uses; restore ``new_hashes`` from the cache.

        Returns the vectors added to the vectors table (for the next snapshot).
        """
        import numpy as np

        model = _model(self._conn)
        if model is None:
            if vectors:
                raise StoreError("vectors given but no embedding model recorded: set IndexChange.model")
            return {}
        model_id, dim = model
        # An empty table (first index, rebuild) needs no "already stored?" lookups; otherwise one batched
        # query per SQL_BATCH hashes answers them (a write was dominated by 2 ms vec0 lookups, one a text)
        empty = self._conn.execute("SELECT count(*) FROM vectors").fetchone()[0] == 0
        stored = set() if empty else _stored_among(self._conn, set(vectors) | new_hashes)

        def is_stored(chunk_hash: str) -> bool:
            return chunk_hash in stored

        live: dict[str, bytes] = {}
        blobs = {chunk_hash: self._vector_blob(vector, dim, chunk_hash) for chunk_hash, vector in vectors.items()}
        self._conn.executemany(
            "INSERT OR IGNORE INTO embedding_cache(model_id, dim, hash, vector) VALUES (?, ?, ?, ?)",
            [(model_id, dim, h, b) for h, b in blobs.items()],
        )
        for chunk_hash, blob in blobs.items():
            used = chunk_hash in new_hashes or self._referenced(chunk_hash)
            if used and not is_stored(chunk_hash):
                live[chunk_hash] = blob
                stored.add(chunk_hash)
        for chunk_hash in sorted(new_hashes - set(vectors)):
            if is_stored(chunk_hash):
                continue
            row = self._conn.execute(
                "SELECT vector FROM embedding_cache WHERE model_id = ? AND dim = ? AND hash = ?",
                (model_id, dim, chunk_hash),
            ).fetchone()
            if row is not None:  # text embedded before (moved, restored, rebuilt): no need to pay again
                live[chunk_hash] = row[0]
                stored.add(chunk_hash)
        self._conn.executemany("INSERT INTO vectors(hash, embedding) VALUES (?, ?)", live.items())
        return {h: np.frombuffer(blob, dtype=np.float32) for h, blob in live.items()}

    def _delete_orphan_vectors(self, candidates: Iterable[str]) -> None:
        if not self._has_vector_table():
            return
        for chunk_hash in candidates:
            if not self._referenced(chunk_hash):
                self._conn.execute("DELETE FROM vectors WHERE hash = ?", (chunk_hash,))

    def _referenced(self, chunk_hash: str) -> bool:
        """True when some chunk has this text hash (uses the chunks_by_hash index)."""
        row = self._conn.execute("SELECT 1 FROM chunks WHERE hash = ? LIMIT 1", (chunk_hash,)).fetchone()
        return row is not None

    # --- keyword search -------------------------------------------------------------------------
    def keyword(self, query: str, k: int, filters: Filters = Filters()) -> list[Hit]:
        """BM25 over title, headings and text (``BM25_WEIGHTS``); score is -bm25, higher is better.

        Read from the same committed state as the vector view searches use (see
        ``_search_reader``), on a reader connection: never waits for a writer.
        """
        if k <= 0:
            return []
        with self._search_reader(vectors=False) as (conn, _):
            return self._keyword(conn, query, k, filters)

    def _keyword(self, conn: apsw.Connection, query: str, k: int, filters: Filters) -> list[Hit]:
        """``keyword`` on ``conn`` (in a read transaction).

        Any text is accepted: ``qmdr.search.keyword_query`` quotes every term, so punctuation,
        quotes and words like ``NEAR`` never reach FTS5 as syntax. Queries in
        scripts written without spaces also search ``chunks_trigram`` (see the
        module docstring); a query without such characters runs exactly as before.
        """
        lists: dict[str, list[Hit]] = {}
        pieces = keyword_pieces(query, frequency=lambda pieces: self._document_frequencies(conn, pieces))
        ranked = self._rank_in_memory(conn, pieces, k, filters) if pieces else None
        match = join_pieces(pieces)
        if ranked is not None:
            lists["unicode61"] = self._hydrate(conn, ranked)
        elif match is not None:
            weights = ", ".join(str(w) for w in BM25_WEIGHTS)
            if filters == Filters():
                # rank inside the FTS table first and join only the k winners: joining every match to
                # chunks and notes before the sort cost more than the ranking itself on common terms
                lists["unicode61"] = self._ranked_hits(
                    conn,
                    f"SELECT {_HIT_COLUMNS}, ranked.score FROM"  # noqa: S608 (constants only)
                    f" (SELECT rowid AS id, -bm25(chunks_fts, {weights}) AS score FROM chunks_fts"
                    " WHERE chunks_fts MATCH ? ORDER BY score DESC, rowid LIMIT ?) ranked"
                    " JOIN chunks c ON c.id = ranked.id JOIN notes n ON n.path = c.note_path{where}"
                    " ORDER BY ranked.score DESC, c.id LIMIT ?",
                    (match, k),
                    k,
                    filters,
                )
            else:
                # the same shape, with the chunks the filter keeps as one set computed once: `+rowid` keeps
                # FTS5 from turning the IN list into a point lookup per chunk id (far slower), and ranking
                # before the join was 1.1-8x faster than joining every match (20k notes,
                # benchmarks/filters.py), with the same hits
                lists["unicode61"] = self._ranked_hits(
                    conn,
                    f"SELECT {_HIT_COLUMNS}, ranked.score FROM"  # noqa: S608 (constants only)
                    f" (SELECT rowid AS id, -bm25(chunks_fts, {weights}) AS score FROM chunks_fts"
                    " WHERE chunks_fts MATCH ? AND +rowid IN (SELECT c.id FROM chunks c WHERE 1{where})"
                    " ORDER BY score DESC, rowid LIMIT ?) ranked"
                    " JOIN chunks c ON c.id = ranked.id JOIN notes n ON n.path = c.note_path"
                    " ORDER BY ranked.score DESC, c.id",
                    (match,),
                    k,
                    filters,
                )
        trigrams = trigram_query(query)
        short_runs = short_unspaced_runs(query) if trigrams is None else []
        if trigrams is not None:
            lists["trigram"] = self._ranked_hits(
                conn,
                f"SELECT {_HIT_COLUMNS}, -bm25(chunks_trigram) AS score"  # noqa: S608 (constants only)
                " FROM chunks_trigram JOIN chunks c ON c.id = chunks_trigram.rowid"
                " JOIN notes n ON n.path = c.note_path"
                " WHERE chunks_trigram MATCH ?{where} ORDER BY score DESC, c.id LIMIT ?",
                (trigrams,),
                k,
                filters,
            )
        elif short_runs:
            found = " + ".join("(instr(c.text, ?) > 0)" for _ in short_runs)
            lists["substring"] = self._ranked_hits(
                conn,
                f"SELECT {_HIT_COLUMNS}, {found} AS score"  # noqa: S608 (placeholders only)
                " FROM (SELECT rowid AS id FROM chunks_trigram ORDER BY rowid LIMIT ?) scanned"
                " JOIN chunks c ON c.id = scanned.id JOIN notes n ON n.path = c.note_path"
                " WHERE score > 0{where} ORDER BY score DESC, c.id LIMIT ?",
                (*short_runs, SHORT_RUN_SCAN_ROWS),
                k,
                filters,
            )
        return _fuse_keyword_lists(lists, k)

    def _rank_in_memory(
        self, conn: apsw.Connection, pieces: list[str], k: int, filters: Filters
    ) -> list[tuple[int, float]] | None:
        """The unicode61 keyword ranking from the in-memory index, or None when FTS5 must rank.

        The same (chunk id, score) list, in the same order, as the FTS5 query of
        ``_keyword`` (``qmdr.store.keyword_index`` says why and how); None when
        the index is not built, or not of ``conn``'s committed state, or a piece
        has no token at all.
        """
        found = self._keyword_keeper.with_terms(conn, pieces)
        if found is None or not all(found[1]):
            return None
        index, terms_of_pieces = found
        phrases: list[str | PhraseScores] = [
            terms[0] if len(terms) == 1 else self._phrase_scores(conn, piece)
            for piece, terms in zip(pieces, terms_of_pieces, strict=True)
        ]
        allowed = None
        if filters != Filters():
            import numpy as np

            where, params = _filter_sql(filters)
            passing = conn.execute(f"SELECT c.id FROM chunks c WHERE 1{where}", params)  # noqa: S608 (placeholders)
            allowed = index.allowed(np.fromiter((row[0] for row in passing), np.int64))
        return index.rank(phrases, k, allowed)

    @staticmethod
    def _phrase_scores(conn: apsw.Connection, piece: str) -> PhraseScores:
        """What FTS5 gives each chunk for one phrase of several tokens asked alone (its share of an OR query)."""
        import numpy as np

        weights = ", ".join(str(w) for w in BM25_WEIGHTS)
        rows = conn.execute(
            f"SELECT rowid, -bm25(chunks_fts, {weights}) FROM chunks_fts WHERE chunks_fts MATCH ?",  # noqa: S608
            (quote(piece),),
        ).fetchall()
        ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
        return ids, np.fromiter((row[1] for row in rows), np.float64, len(rows))

    def _document_frequencies(self, conn: apsw.Connection, pieces: list[str]) -> list[int]:
        """How many chunks hold each query piece (as FTS5 reads it): picks a long query's rarest words.

        A one-term piece is looked up in the in-memory keyword index when it is
        of ``conn``'s state (its posting count is FTS5's count); FTS5 counts the rest.
        """
        found = self._keyword_keeper.with_terms(conn, pieces)
        index, terms_of_pieces = found if found is not None else (None, [[] for _ in pieces])
        counts = []
        for piece, terms in zip(pieces, terms_of_pieces, strict=True):
            if index is not None and len(terms) == 1:
                counts.append(index.term_postings(terms[0]))
            else:
                sql = "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?"
                counts.append(int(conn.execute(sql, (quote(piece),)).fetchone()[0]))
        return counts

    @staticmethod
    def _ranked_hits(conn: apsw.Connection, sql: str, head: tuple[Any, ...], k: int, filters: Filters) -> list[Hit]:
        """Run a keyword ``sql`` (its last column the score; ``{where}`` takes the filters) for ``k`` hits."""
        where, params = _filter_sql(filters)
        try:
            rows = conn.execute(sql.format(where=where), (*head, *params, k)).fetchall()
        except apsw.Error as exc:  # match_query makes this unreachable for user text; keep the tree clean
            raise StoreError(f"keyword search failed: {exc}") from exc
        return [_hit(row[:-1], row[-1]) for row in rows]

    # --- vector search --------------------------------------------------------------------------
    def nearest(self, vector: np.ndarray, k: int, filters: Filters = Filters()) -> list[Hit]:
        """The ``k`` chunks whose vectors are most similar to ``vector`` (cosine), best first."""
        if k <= 0:
            return []
        import numpy as np

        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if self.vector_search == "vec0":
            with self._read() as conn:
                model = _model(conn)
                if model is None:
                    return []
                self._check_query(query, model)
                return self._hydrate(conn, self._nearest_vec0(conn, query, k, filters))
        with self._search_reader(vectors=True) as (conn, snapshot):
            assert snapshot is not None  # noqa: S101 (vectors=True always yields one)
            model = None if snapshot.model == ("", 1) else snapshot.model
            if model is None:
                return []
            self._check_query(query, model)
            passing = partial(self._notes_passing, conn, filters) if filters_notes(filters) else None
            return self._hydrate(conn, snapshot.search(query, k, filters, passing))

    @staticmethod
    def _notes_passing(conn: apsw.Connection, filters: Filters) -> list[str]:
        """Paths of the notes the stored-field part of ``filters`` (``where``, dates) keeps, read in
        ``conn``'s transaction (the snapshot's state; the snapshot itself tests path and tags).

        One indexed SELECT per condition, intersected: a selective filter reads only
        the notes it keeps instead of testing every note.
        """
        selects: list[str] = []
        params: list[Any] = []
        for _, terms in filters.where:
            selects.append(f"SELECT note_path FROM note_fields WHERE term IN ({_placeholders(len(terms))})")  # noqa: S608
            params += list(terms)
        bounds = [
            (f"note_date {op} ?", value)
            for op, value in ((">=", filters.after), ("<", filters.before))
            if value is not None
        ]
        if bounds:
            selects.append(f"SELECT path FROM notes WHERE {' AND '.join(sql for sql, _ in bounds)}")  # noqa: S608
            params += [value for _, value in bounds]
        return [row[0] for row in conn.execute(" INTERSECT ".join(selects), params)]

    @staticmethod
    def _check_query(query: np.ndarray, model: tuple[str, int]) -> None:
        if query.shape != (model[1],):
            raise ModelMismatch(
                f"query vector has {query.shape[0]} dimensions but the index holds "
                f"{model[1]} ({model[0]}); {REBUILD_HINT}",
                stored=model,
            )

    @staticmethod
    def _hydrate(conn: apsw.Connection, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        """Hits for (chunk id, score) pairs, in the given order, read in ``conn``'s transaction."""
        rows: dict[int, Sequence[Any]] = {}
        ids = [chunk_id for chunk_id, _ in scored]
        for batch in _batches(ids):
            for row in conn.execute(
                f"SELECT {_HIT_COLUMNS} FROM chunks c JOIN notes n ON n.path = c.note_path"  # noqa: S608
                f" WHERE c.id IN ({_placeholders(len(batch))})",
                tuple(batch),
            ):
                rows[row[0]] = row
        return [_hit(rows[chunk_id], score) for chunk_id, score in scored if chunk_id in rows]

    def vectors_of(self, chunk_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these chunk texts (by hash; hashes without one are left out).

        Search's Rocchio feedback (``qmdr.search.feedback``) reads the vectors of
        its top few hits here: from the snapshot it just scanned, or from the
        table when the store searches with vec0.
        """
        wanted = list(dict.fromkeys(chunk_hashes))
        if not wanted:
            return {}
        if self.vector_search == "memory":
            return self.vector_index().vectors_for(wanted)
        with self._read() as conn:
            model = _model(conn)
            if model is None:
                return {}
            import numpy as np

            return {h: np.frombuffer(blob, np.float32) for h, blob in self._fetch_vectors(conn, model, wanted)}

    @contextmanager
    def _search_reader(self, *, vectors: bool) -> Iterator[tuple[apsw.Connection, VectorIndex | None]]:
        """A connection in a read transaction, and (``vectors``) the snapshot of that same committed state.

        Usually a pooled reader whose transaction sees exactly the view's
        generation. When the latest commit is ahead of the view: while a build
        is running, or for a keyword search that finds one loaded, the search
        reads from the view's pinned transaction (one state for keyword and
        vector hits, never waiting for the writer or the build); with no build
        running, a vector search builds the next view first (a commit by another
        process) and a keyword search reads the latest commit. Before the first
        view only a vector search waits for it to be built.
        """
        if self._pool is None:  # in memory: one connection; the snapshot is built under the same lock
            with self._lock, self._read() as conn:
                yield conn, self._memory_snapshot() if vectors else None
            return
        attempts = 0
        while True:
            view = self._view
            conn = self._pool.take()
            try:
                conn.execute("BEGIN")
                latest = _generation(conn)
            except BaseException:
                self._pool.give(conn)
                raise
            if view is not None and view.generation == latest:
                snapshot, release = view.snapshot, partial(self._pool.give, conn)
                break
            if not vectors and (view is None or not self._build_lock.locked()):
                snapshot, release = None, partial(self._pool.give, conn)
                break
            self._pool.give(conn)
            if view is not None and (not vectors or self._build_lock.locked() or attempts >= VIEW_ATTEMPTS):
                view.lock.acquire()
                if not view.retired and view.conn is not None:
                    snapshot, conn, release = view.snapshot, view.conn, view.lock.release
                    break
                view.lock.release()  # replaced meanwhile: the new view is the one to read
                continue
            attempts += 1
            self._refresh_view()
        try:
            yield conn, snapshot if vectors else None
        finally:
            release()

    def vector_index(self) -> VectorIndex:
        """The snapshot of the latest commit, built (incrementally) if the generation has moved on.

        Rows of the previous snapshot are reused only while the stored vectors
        are the same set of the same model: a drop (rebuild, reset) bumps
        ``vector_epoch`` and forces a fresh load. One build at a time; callers
        arriving meanwhile wait for it and share its result.
        """
        if self._pool is None:
            with self._lock:
                return self._memory_snapshot()
        view = self._view
        if view is not None and view.generation == self.generation():
            return view.snapshot
        return self._refresh_view().snapshot

    def warm(self) -> int:
        """Build the search caches now, ahead of the first search; returns the vector snapshot's chunk count.

        The vector snapshot (none with ``vector_search="vec0"``, which keeps no
        snapshot: 0), then the in-memory keyword index, which from then on is
        kept up to date after every change: a long-lived process (the server)
        calls this, a one-shot command does not (one query through FTS5 costs
        less than the build). Keyword searches on a file store are not held up
        while it runs.
        """
        chunks = 0 if self.vector_search == "vec0" else len(self.vector_index())
        if self._pool is None:
            with self._lock, self._read() as conn:
                self._keyword_keeper.want(conn)
        else:
            self._keyword_keeper.want()
        return chunks

    def _memory_snapshot(self) -> VectorIndex:
        """In memory (caller holds ``_lock``): the snapshot of the one connection's state."""
        view = self._view
        with self._read() as conn:
            if view is not None and view.generation == _generation(conn):
                return view.snapshot
            snapshot = self._build_snapshot(conn, view.snapshot if view is not None else None)
        self._view = PinnedView(snapshot)
        return snapshot

    def _refresh_view(self) -> PinnedView:
        """Build a view of the latest commit and swap it in; the previous one is retired after the swap.

        One build at a time: a caller arriving during a build waits for it, then
        returns it if it is current. Searches keep using the previous view meanwhile.
        """
        with self._build_lock:
            current = self._view
            assert self._pool is not None  # noqa: S101 (file stores only)
            conn = self._pool.take()
            try:
                conn.execute("BEGIN")
                if current is not None and current.generation == _generation(conn):
                    self._pool.give(conn)
                    return current
                snapshot = self._build_snapshot(conn, current.snapshot if current is not None else None)
            except BaseException:
                self._pool.give(conn)
                raise
            view = PinnedView(snapshot, conn)  # the read transaction stays open: the view's state
            self._view = view
            if current is not None:
                current.retire(self._pool)
            return view

    def _build_snapshot(self, conn: apsw.Connection, previous: VectorIndex | None) -> VectorIndex:
        """A snapshot of what ``conn`` sees (already in a read transaction, left open); vectors this
        process just wrote (``_fresh``) are taken from memory instead of the table."""
        from qmdr.store.vector_file import load_snapshot, snapshot_file
        from qmdr.store.vector_index import VectorIndex

        generation = _generation(conn)
        model = _model(conn)
        if model is None:
            return VectorIndex.empty(("", 1), generation)
        epoch = int(_meta_value(conn, "vector_epoch") or 0)
        state = (_meta_value(conn, "index_id") or "", _meta_value(conn, "last_reindex") or "")
        if previous is None and self.path is not None:  # a first build: start from the persisted snapshot
            loaded = load_snapshot(snapshot_file(self.path), index_id=state[0], model=model, epoch=epoch)
            previous = None if loaded is None else loaded[0]
            if loaded is not None and (loaded[0].generation, loaded[1]) == (generation, state[1]):
                if self._on_snapshot_build is not None:
                    self._on_snapshot_build(len(loaded[0]))
                return loaded[0]  # the file is this very commit: nothing to read
        chunk_count = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        tags: dict[str, list[str]] = {}
        for tag, path in conn.execute("SELECT tag, note_path FROM note_tags"):
            tags.setdefault(path, []).append(tag)
        with self._fresh_lock:
            fresh = dict(self._fresh) if self._fresh_key == (model, epoch) else {}
        if self._on_snapshot_build is not None:
            self._on_snapshot_build(chunk_count)
        reusable = previous is not None and previous.epoch == epoch
        snapshot = VectorIndex.build(
            model=model,
            generation=generation,
            chunks=conn.execute("SELECT id, note_path, hash FROM chunks"),
            note_tags=tags,
            fetch_vectors=lambda hashes: self._fetch_vectors(conn, model, hashes),
            previous=previous if reusable else None,
            fresh=fresh,
            epoch=epoch,
        )
        with self._fresh_lock:  # what the snapshot now holds need not be kept for the next one
            if self._fresh_key == (model, epoch):
                for chunk_hash in fresh:
                    self._fresh.pop(chunk_hash, None)
        return self._persisted(snapshot, state)

    def _persisted(self, snapshot: VectorIndex, state: tuple[str, str]) -> VectorIndex:
        """``snapshot``, saved to ``<index>.vectors`` and mapped from there when that pays off.

        Saved when it is large enough that reading it back from SQLite would slow
        a restart (``PERSIST_MIN_ROWS``) and its rows are not already mostly in
        the file (a first load, a compaction, or ``PERSIST_EXTRA_FRACTION`` rows
        added since). A failed save (disk full, read-only folder) only costs the
        next start its speed: the snapshot in memory is returned as it is.
        """
        if self.path is None or snapshot.rows < PERSIST_MIN_ROWS:
            return snapshot
        import numpy as np

        from qmdr.store.vector_file import load_snapshot, snapshot_file, write_snapshot

        if isinstance(snapshot.matrix, np.memmap) and snapshot.extra.shape[0] <= PERSIST_EXTRA_FRACTION * snapshot.rows:
            return snapshot
        target = snapshot_file(self.path)
        try:
            write_snapshot(target, snapshot, index_id=state[0], stamp=state[1])
        except OSError as exc:
            log.warning("could not save the vector snapshot to %s (%s); the next start reads SQLite", target, exc)
            return snapshot
        mapped = load_snapshot(target, index_id=state[0], model=snapshot.model, epoch=snapshot.epoch)
        if mapped is None or mapped[0].generation != snapshot.generation:
            return snapshot
        return mapped[0]

    @staticmethod
    def _fetch_vectors(conn: apsw.Connection, model: tuple[str, int], hashes: list[str]) -> Iterator[tuple[str, bytes]]:
        """Stored vectors of ``model`` for ``hashes`` as (hash, float32 blob), read through ``conn`` inside
        its read transaction; yielded as read, so a caller can place each one without holding them all."""
        if not _has_vectors_table(conn):
            return
        total = conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
        if total and len(hashes) > SCAN_INSTEAD_OF_LOOKUP * total:
            wanted = set(hashes)
            cached = conn.execute(
                "SELECT count(*) FROM embedding_cache WHERE model_id = ? AND dim = ?", model
            ).fetchone()[0]
            if cached > CACHE_SCAN_MAX_RATIO * total:
                for chunk_hash, blob in conn.execute("SELECT hash, embedding FROM vectors"):
                    if chunk_hash in wanted:
                        yield chunk_hash, blob
                return
            # The cache holds the same vector for every stored one (apply writes both) and a plain
            # table scans about 2.5x faster than vec0's chunked storage. Only hashes the index
            # itself has a vector for are taken, so both search paths agree on what is searchable.
            wanted &= {row[0] for row in conn.execute("SELECT hash FROM vectors")}
            rows = conn.execute("SELECT hash, vector FROM embedding_cache WHERE model_id = ? AND dim = ?", model)
            for chunk_hash, blob in rows:
                if chunk_hash in wanted:
                    wanted.discard(chunk_hash)
                    yield chunk_hash, blob
            hashes = list(wanted)  # stored but somehow not cached: look up
        # a few hashes: those the index stores, from the cache by its unique index (one query per batch);
        # vec0 answers a lookup by text key in ~2 ms (a scan), so it is asked only for what is not cached
        stored = _stored_among(conn, hashes)
        for batch in _batches(sorted(stored)):
            rows = conn.execute(
                f"SELECT hash, vector FROM embedding_cache WHERE model_id = ? AND dim = ?"  # noqa: S608
                f" AND hash IN ({_placeholders(len(batch))})",
                (*model, *batch),
            )
            for chunk_hash, blob in rows:
                stored.discard(chunk_hash)
                yield chunk_hash, blob
        for chunk_hash in stored:
            row = conn.execute("SELECT embedding FROM vectors WHERE hash = ?", (chunk_hash,)).fetchone()
            if row is not None:
                yield chunk_hash, row[0]

    @staticmethod
    def _nearest_vec0(conn: apsw.Connection, query: np.ndarray, k: int, filters: Filters) -> list[tuple[int, float]]:
        """sqlite-vec's own search: KNN on vec0 when unfiltered, an exact filtered scan otherwise."""
        blob = query.tobytes()
        where, params = _filter_sql(filters)
        if not _has_vectors_table(conn):
            return []
        if where:
            rows = conn.execute(
                "SELECT c.id, 1.0 - vec_distance_cosine(v.embedding, ?) AS score FROM chunks c"  # noqa: S608
                f" JOIN vectors v ON v.hash = c.hash WHERE 1{where} ORDER BY score DESC, c.id LIMIT ?",
                (blob, *params, k),
            ).fetchall()
            return [(chunk_id, float(score)) for chunk_id, score in rows]
        # k distinct texts give at least k chunks (every stored vector is referenced by a chunk)
        knn = conn.execute(
            "SELECT hash, distance FROM vectors WHERE embedding MATCH ? AND k = ?", (blob, min(k, VEC0_MAX_K))
        ).fetchall()
        similarity = {chunk_hash: 1.0 - float(distance) for chunk_hash, distance in knn}
        scored: list[tuple[int, float]] = []
        hashes = list(similarity)
        for batch in _batches(hashes):
            sql = f"SELECT id, hash FROM chunks WHERE hash IN ({_placeholders(len(batch))})"  # noqa: S608
            for chunk_id, chunk_hash in conn.execute(sql, tuple(batch)):
                scored.append((chunk_id, similarity[chunk_hash]))
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:k]

    # --- reading notes and stats ----------------------------------------------------------------
    def get_note(self, path: str) -> dict[str, Any] | None:
        """The note row (JSON columns decoded) with its chunks in order, or None."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT path, title, tags, frontmatter, content_hash, mtime, size, links, dates, indexed_at"
                " FROM notes WHERE path = ?",
                (path,),
            ).fetchone()
            if row is None:
                return None
            chunks = conn.execute(
                "SELECT id, ordinal, heading_trail, start_line, end_line, text, hash FROM chunks"
                " WHERE note_path = ? ORDER BY ordinal",
                (path,),
            ).fetchall()
        path, title, tags, frontmatter, content_hash, mtime, size, links, dates, indexed_at = row
        return {
            "path": path,
            "title": title,
            "tags": json.loads(tags),
            "frontmatter": json.loads(frontmatter),
            "content_hash": content_hash,
            "mtime": mtime,
            "size": size,
            "links": json.loads(links),
            "dates": json.loads(dates),
            "indexed_at": indexed_at,
            "chunks": [
                {
                    "id": cid,
                    "ordinal": ordinal,
                    "heading_trail": json.loads(trail),
                    "start_line": start,
                    "end_line": end,
                    "text": text,
                    "hash": chunk_hash,
                }
                for cid, ordinal, trail, start, end, text, chunk_hash in chunks
            ],
        }

    def stats(self) -> IndexStats:
        with self._read() as conn:
            notes = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
            chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            texts = conn.execute("SELECT count(DISTINCT hash) FROM chunks").fetchone()[0]
            vectors = self._vector_count(conn)
            cached = conn.execute("SELECT count(*) FROM embedding_cache").fetchone()[0]
            model = _model(conn)
            last = _meta_value(conn, "last_reindex")
            generation = _generation(conn)
        size = 0
        if self.path is not None:
            size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return IndexStats(
            notes=notes,
            chunks=chunks,
            vectors=vectors,
            model_id=model[0] if model else None,
            dim=model[1] if model else None,
            last_reindex=last,
            extra={
                "generation": generation,
                "schema_version": SCHEMA_VERSION,
                "distinct_texts": texts,
                "texts_without_vector": texts - vectors,
                "embedding_cache_entries": cached,
                "vector_search": self.vector_search,
                "path": str(self.path) if self.path else ":memory:",
                "size_bytes": size,
                "keyword_index": self._keyword_keeper.describe(generation),
            },
        )

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` rows: ``["ok"]`` for a healthy file."""
        with self._read() as conn:
            return [row[0] for row in conn.execute("PRAGMA integrity_check")]
