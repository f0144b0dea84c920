"""PostgreSQL + pgvector backend of the ``Store`` protocol: every vault in one database.

For teams that run several qmdr servers over one shared database. Each vault is
a schema of its own (``qmdr.store.migrations.postgres`` says why, and
``benchmarks/results/pg_vault_layout.md`` what was measured); a ``PostgresStore``
is one vault, and all stores of a process share one connection pool
(``qmdr.store.pg_pool``). Same semantics as ``qmdr.store.sqlite``; the differences
are in how each part is done:

* keyword search: a generated ``tsvector`` (title A, heading trail B, text C)
  with a GIN index, ranked by ``ts_rank_cd``. The query is an OR of the words
  of the user's text (``qmdr.search.keyword_query.query_pieces``, shared with sqlite), each
  passed through ``plainto_tsquery``, so no user punctuation can ever be a
  tsquery syntax error. Runs of a script written without spaces (CJK, Thai...)
  are also looked up as substrings through a pg_trgm index on the chunk text
  (the sqlite store's trigram table); the two lists are fused by RRF.
* nearest: ``ORDER BY embedding <=> q`` over an HNSW index (``vector_cosine_ops``);
  the score is the cosine similarity ``1 - distance``. ``hnsw.ef_search`` is set
  per query to ``max(EF_SEARCH_FLOOR, EF_SEARCH_PER_RESULT * candidates)``.
  A filter that keeps few chunks is answered by an exact scan of them; a broad
  one walks the HNSW graph with pgvector 0.8's iterative scan
  (``hnsw.iterative_scan = strict_order``) until ``k`` chunks pass the filter, and
  falls back to the exact scan when the walk's budget ends with fewer, so filters
  never silently shrink results.
* one reindex of a vault at a time across servers: ``reindex_lock()`` takes a
  session advisory lock keyed by the vault on a dedicated connection (non-blocking;
  ``IndexBusy`` when held). Searches never take it: MVCC gives them a consistent
  snapshot. Single writes (``apply``, ``set_embedding_model``...) queue on a
  transaction advisory lock of the vault, like SQLite's ``BEGIN IMMEDIATE``, with
  ``IndexBusy`` past a timeout. Other vaults never wait for either.
* the database going away: any statement that cannot reach the server raises
  ``StoreUnavailable`` (HTTP 503 with ``Retry-After``); a write is rolled back
  whole. The pool checks each connection before use, so once the server is back
  the next request works.
* a big ``apply`` (first index, ``--rebuild``, a new model, a large import) writes
  the vectors into a shadow table (``vectors_next``), builds its HNSW graph in one
  go (far faster than growing a graph row by row) and ANALYZEs, all while searches
  keep reading the live ``vectors`` from the last commit; only then does it swap
  the shadow in by rename and commit. The exclusive lock searches would wait for is
  held for the swap alone (milliseconds), not for the build (seconds to minutes),
  and it is taken in short tries (``SWAP_LOCK_TRY_MS``) so a slow search never
  queues the others behind a waiting swap. One transaction still: a writer killed
  mid-build leaves the old table, untouched.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from qmdr.errors import IndexBusy, ModelMismatch, StoreError, StoreUnavailable
from qmdr.search.fusion import reciprocal_rank_fusion
from qmdr.search.keyword_query import (
    MAX_QUERY_TERMS,
    MAX_TRIGRAM_TERMS,
    TRIGRAM_CHARS,
    query_pieces,
    unspaced_runs,
)
from qmdr.store.base import Filters, Hit, IndexChange, IndexStats
from qmdr.store.filtering import field_terms, filter_tag_keys, is_unfiltered, tag_key
from qmdr.store.migrations import postgres as schema
from qmdr.store.pg_pool import CONNECT_TIMEOUT_SECONDS, SharedPool, acquire_pool, release_pool
from vault.frontmatter import note_timestamp
from vault.model import Chunk, Note

log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE = 8  # per process, all vaults together: one per concurrent request thread is plenty
DEFAULT_VAULT = "default"
#: clients are told to come back after this many seconds when the database cannot be reached
#: (a restart or fail-over takes seconds; sooner only adds load while it comes back)
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
HEADING_SEPARATOR = " / "  # joins the heading trail into the text the tsvector weights B

# HNSW search breadth: hnsw.ef_search = max(EF_SEARCH_FLOOR, EF_SEARCH_PER_RESULT * rows wanted).
# pgvector's default is 40. On 100k x 384 hierarchical vectors (benchmarks/store_compare.py)
# recall@10 was 0.87 at 40, 0.94 at 100 and 0.99 at 200, with p50 latency within the noise of a
# shared 2-core machine (12-19 ms): 100 buys most of the recall for little time.
EF_SEARCH_FLOOR = 100
EF_SEARCH_PER_RESULT = 2
EF_SEARCH_MAX = 1000  # pgvector rejects hnsw.ef_search above 1000
# A filter keeping at most this many chunks is answered by an exact scan: scoring 2,000
# rows costs about what an HNSW search with ef_search 200 does (~10 ms, 384 dims), and is exact.
EXACT_FILTERED_MAX = 2_000
# Past that, an iterative HNSW scan visits at most this many index tuples looking for k chunks
# that pass the filter (pgvector's default hnsw.max_scan_tuples is 20,000). A filter keeping
# more than EXACT_FILTERED_MAX chunks keeps at least 1 in (tuples / EXACT_FILTERED_MAX) of them,
# so the budget is reached only for rare shapes; then the exact scan answers.
ITERATIVE_MAX_SCAN_TUPLES = 50_000
# The iterative walk's breadth (hnsw.ef_search) is that of an unfiltered search for this many
# times k / (the filter's share) results: the iterative scan guarantees k rows, the breadth keeps
# their recall. At 100k x 384 with a 10% filter, ef_search 100 gave recall@10 0.92 where the
# over-fetch breadth (400) of the pgvector 0.6 code gave 0.98 (benchmarks/results/store_compare-pg18.md).
FILTERED_OVERFETCH = 2
MAX_K = EF_SEARCH_MAX // EF_SEARCH_PER_RESULT  # beyond this the HNSW scan could not return k rows
# Rebuild the HNSW index instead of inserting into it when a change adds at least this many
# vectors *and* at least this share of the resulting table: inserting costs ~15 ms per row
# against ~0.6 ms per row for a build (10k x 384 on 2 shared cores), so a rebuild pays off
# well below a 1/25 share; 1/10 leaves margin for copying the kept vectors into the shadow table.
HNSW_REBUILD_MIN_VECTORS = 1_000
HNSW_REBUILD_SHARE = 0.1
# Memory for one HNSW build (transaction-local): a 100k x 384 graph needs ~200 MB to build in
# memory; past this pgvector keeps building on disk, much slower.
HNSW_BUILD_MEMORY = "512MB"
HNSW_MAX_DIM = 2000  # pgvector cannot HNSW-index a vector column wider than this: exact scan instead
# The swap of a shadow vectors table asks for an exclusive lock on the live one. A waiting request
# queues every new search behind it, so it is asked for in tries this short, with a pause between
# (searches holding the table finish and the queue drains), up to SWAP_LOCK_TRIES times before
# IndexBusy: a whole rebuild is not thrown away because one search was slow.
SWAP_LOCK_TRY_MS = 200
SWAP_LOCK_PAUSE_SECONDS = 0.05
SWAP_LOCK_TRIES = 300

# Advisory locks are two 32-bit keys: (what, which vault). The first says what is locked
# ("qr" in ASCII then 2 or 3, clear of the 64-bit migration key), the second is
# schema.vault_lock_id(vault), so each vault has its own locks within the database.
# Session lock guarding a vault's reindex:
REINDEX_LOCK_CLASS = 0x7172_0002
# Lock serialising a vault's writers, taken per transaction:
WRITE_LOCK_CLASS = 0x7172_0003
# A writer waits this long for another writer before IndexBusy (the sqlite store's busy timeout):
# a first index of a large vault holds the write lock for a few seconds.
WRITE_LOCK_TIMEOUT_MS = 10_000
MAX_DIM = 16_000  # pgvector's limit for a vector column

REBUILD_HINT = "run `qmdr index --rebuild` to re-embed with the new model (text embedded before is reused)"

# Meta keys shared with the sqlite store, which IndexChange.meta may not overwrite.
_MODEL_KEY = "model_id"
_DIM_KEY = "dim"
_LAST_REINDEX_KEY = "last_reindex"
_GENERATION_KEY = "generation"
RESERVED_META = frozenset({schema.SCHEMA_VERSION_KEY, _MODEL_KEY, _DIM_KEY, _GENERATION_KEY, _LAST_REINDEX_KEY})
_HNSW_INDEX = "vectors_embedding_hnsw"
_VECTORS = "vectors"
_SHADOW_VECTORS = "vectors_next"  # exists only inside a rebuilding transaction
_SHADOW_HNSW_INDEX = "vectors_next_embedding_hnsw"


def drop_vault_index(url: str, vault: str) -> None:
    """Delete vault ``vault``'s index (its schema) from the database at ``url``; the other vaults stay."""
    where = describe_url(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            schema.drop_vault(conn, vault)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(
            f"cannot reach the PostgreSQL index ({where}) to remove vault {vault!r}: {_reason(exc)}",
            retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS,
        ) from exc


def connection_failure(where: str, exc: psycopg.Error) -> StoreUnavailable:
    """The error for a server that cannot be reached: names the database (never the password), asks for a retry.

    Said the same at start and mid-run; mid-run nothing was changed (a write's
    transaction never committed).
    """
    return StoreUnavailable(
        f"PostgreSQL ({where}) cannot be reached: {_reason(exc)}. Check QMDR_DATABASE_URL and that the server is up",
        retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS,
    )


def _reason(exc: psycopg.Error) -> str:
    """Why a connection failed, in words that never include the URL's password.

    libpq's messages name the host, port or socket and the server's complaint
    ("Connection refused", "the database system is shutting down"), not the
    password; the first line is enough.
    """
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def describe_url(url: str) -> str:
    """Host and database of a connection URL, never its password (for error messages)."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database (QMDR_DATABASE_URL)"
    return f"database {parts.get('dbname', '?')!r} on {parts.get('host', 'localhost')!r}"


class PostgresStore:
    """One vault's index in a PostgreSQL database (needs the ``vector`` and ``pg_trgm`` extensions)."""

    def __init__(
        self,
        url: str,
        *,
        vault: str = DEFAULT_VAULT,
        pool_size: int = DEFAULT_POOL_SIZE,
        ef_search_floor: int = EF_SEARCH_FLOOR,
    ) -> None:
        """Open (and migrate) vault ``vault``'s index in the database at ``url``.

        ``pool_size`` applies when this is the process's first store on ``url`` (the
        pool is shared, see ``qmdr.store.pg_pool``). ``ef_search_floor`` trades HNSW
        recall for latency (see EF_SEARCH_FLOOR and benchmarks/store_compare.py); it
        is clamped to pgvector's 1..1000.
        """
        self._url = url
        self.vault = vault
        self.ef_search_floor = max(1, min(EF_SEARCH_MAX, ef_search_floor))
        self._where = describe_url(url)
        self._lock_id = schema.vault_lock_id(vault)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                _, self._search_path = schema.migrate(conn, vault)
        except psycopg.OperationalError as exc:
            raise connection_failure(self._where, exc) from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot open the PostgreSQL index ({self._where}): {exc.__class__.__name__}; "
                "check QMDR_DATABASE_URL and that the server has the pgvector and pg_trgm extensions"
            ) from exc
        self._shared: SharedPool | None = acquire_pool(url, pool_size)
        self._pool = self._shared.pool

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection whose ``search_path`` is this vault's schema.

        Any failure to reach the server (at checkout or mid-statement) becomes
        ``StoreUnavailable``; other database errors pass through unchanged.
        """
        shared = self._shared
        if shared is None:
            raise StoreError(f"the index of vault {self.vault!r} is closed")
        try:
            with self._pool.connection() as conn:
                if shared.search_path_of(conn) != self._search_path:
                    conn.execute("SELECT set_config('search_path', %s, false)", (self._search_path,))
                    shared.remember_search_path(conn, self._search_path)
                yield conn
        except psycopg.errors.LockNotAvailable:
            raise  # an OperationalError too, but it means "busy", not "down": _writing says so
        except psycopg.OperationalError as exc:
            raise connection_failure(self._where, exc) from exc

    def __repr__(self) -> str:
        return f"PostgresStore({self._where}, vault={self.vault!r})"  # never the URL: it may carry a password

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- model -------------------------------------------------------------------------------

    def embedding_model(self) -> tuple[str, int] | None:
        with self._connection() as conn:
            return self._read_model(conn)

    def set_embedding_model(self, model_id: str, dim: int) -> None:
        """Record the model; ``ModelMismatch`` if another model's vectors are stored (rebuild first)."""
        if self.embedding_model() == (model_id, dim):
            return  # the common case on every reindex: no lock taken
        with self._writing() as conn:
            self._record_model(conn, model_id, dim)

    def reset_vectors(self) -> None:
        """Drop every stored vector and the recorded model (notes and chunks stay keyword-searchable)."""
        with self._writing() as conn:
            self._drop_vectors(conn)
            self._bump_generation(conn)

    def _record_model(self, conn: psycopg.Connection, model_id: str, dim: int) -> None:
        """Inside a write transaction: make (model_id, dim) the index's model, or refuse.

        Types the vector column ``vector(dim)`` and builds the HNSW index on it;
        refuses while vectors of another model exist, since they would be
        silently incomparable with the new model's query vectors.
        """
        _check_model(model_id, dim)
        current = self._read_model(conn)
        if current == (model_id, dim):
            return
        conn.execute("LOCK TABLE vectors IN ACCESS EXCLUSIVE MODE")  # searches wait; this is rare
        self._refuse_other_model(conn, current, (model_id, dim))
        self._drop_vectors(conn)
        retype = sql.SQL("ALTER TABLE vectors ALTER COLUMN embedding TYPE vector({})").format(dim)
        conn.execute(retype)
        if dim <= HNSW_MAX_DIM:
            self._create_hnsw(conn)
        self._put_meta(conn, _MODEL_KEY, model_id)
        self._put_meta(conn, _DIM_KEY, str(dim))
        self._bump_generation(conn)

    @staticmethod
    def _refuse_other_model(
        conn: psycopg.Connection, current: tuple[str, int] | None, requested: tuple[str, int]
    ) -> None:
        """``ModelMismatch`` while vectors of ``current`` exist: they are incomparable with ``requested``'s."""
        if current is not None and conn.execute("SELECT EXISTS (SELECT 1 FROM vectors)").fetchone()[0]:
            raise ModelMismatch(
                f"this index holds vectors from {current[0]} ({current[1]} dimensions) but the embedder is "
                f"{requested[0]} ({requested[1]} dimensions); {REBUILD_HINT}",
                stored=current,
                requested=requested,
            )

    @staticmethod
    def _create_hnsw(conn: psycopg.Connection, table: str = _VECTORS, name: str = _HNSW_INDEX) -> None:
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (HNSW_BUILD_MEMORY,))
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops)").format(
                sql.Identifier(name), sql.Identifier(table)
            )
        )

    @staticmethod
    def _create_shadow_vectors(conn: psycopg.Connection, model: tuple[str, int] | None, *, keep: bool) -> None:
        """Create the shadow vectors table this transaction writes instead of the live one.

        Typed ``vector(dim)`` for ``model`` (untyped with none, as a fresh schema), without
        its HNSW index (built once it is full). With ``keep`` it starts as a copy of the
        live table's rows: reading them takes only the lock every search takes.
        """
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(_SHADOW_VECTORS)))
        column = sql.SQL("vector({})").format(model[1]) if model is not None else sql.SQL("vector")
        conn.execute(
            sql.SQL("CREATE TABLE {} (hash text PRIMARY KEY, embedding {} NOT NULL)").format(
                sql.Identifier(_SHADOW_VECTORS), column
            )
        )
        if keep:
            conn.execute(
                sql.SQL("INSERT INTO {} (hash, embedding) SELECT hash, embedding FROM vectors").format(
                    sql.Identifier(_SHADOW_VECTORS)
                )
            )

    def _swap_in_shadow_vectors(self, conn: psycopg.Connection, model: tuple[str, int] | None) -> None:
        """Index and analyze the shadow table, then make it ``vectors``: the only moment searches wait.

        Everything slow (the HNSW build, ANALYZE) happens before the exclusive lock;
        after it come a DROP, three renames and the commit. A search queued on the
        lock then reads the new table (PostgreSQL looks the name up again once it
        has the lock, and a READ COMMITTED statement takes its snapshot after that).
        """
        if model is not None and model[1] <= HNSW_MAX_DIM:
            self._create_hnsw(conn, _SHADOW_VECTORS, _SHADOW_HNSW_INDEX)
        # The planner's row estimates are stale after a big load (autovacuum catches up later);
        # without them it joins HNSW candidates to chunks in the slowest way.
        conn.execute(sql.SQL("ANALYZE notes, chunks, {}").format(sql.Identifier(_SHADOW_VECTORS)))
        self._lock_live_vectors(conn)
        conn.execute("DROP TABLE vectors")
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO vectors").format(sql.Identifier(_SHADOW_VECTORS)))
        conn.execute(sql.SQL("ALTER INDEX {} RENAME TO vectors_pkey").format(sql.Identifier(_SHADOW_VECTORS + "_pkey")))
        if model is not None and model[1] <= HNSW_MAX_DIM:
            conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    sql.Identifier(_SHADOW_HNSW_INDEX), sql.Identifier(_HNSW_INDEX)
                )
            )

    @staticmethod
    def _lock_live_vectors(conn: psycopg.Connection) -> None:
        """Take the exclusive lock on ``vectors`` in short tries (see SWAP_LOCK_TRY_MS); IndexBusy after all."""
        for attempt in range(SWAP_LOCK_TRIES):
            try:
                with conn.transaction():  # a savepoint: a timed-out try is undone, the rebuild is not
                    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{SWAP_LOCK_TRY_MS}ms",))
                    conn.execute("LOCK TABLE vectors IN ACCESS EXCLUSIVE MODE")
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{WRITE_LOCK_TIMEOUT_MS}ms",))
                return
            except psycopg.errors.LockNotAvailable as exc:
                if attempt == SWAP_LOCK_TRIES - 1:
                    waited = SWAP_LOCK_TRIES * (SWAP_LOCK_TRY_MS / 1000 + SWAP_LOCK_PAUSE_SECONDS)
                    raise IndexBusy(
                        f"a reader kept this vault's vectors table open for over {waited:.0f} s, so "
                        "the rebuilt vectors could not be swapped in; nothing was changed, "
                        "run the reindex again"
                    ) from exc
                time.sleep(SWAP_LOCK_PAUSE_SECONDS)

    @staticmethod
    def _worth_rebuilding_hnsw(conn: psycopg.Connection, adding: int) -> bool:
        """True when adding about ``adding`` vectors is cheaper as one index rebuild than as inserts.

        The rebuild holds an exclusive lock on ``vectors`` until commit, so searches
        on other connections wait for it; that is why small changes never take it.
        """
        if adding < HNSW_REBUILD_MIN_VECTORS:
            return False
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL, (SELECT count(*) FROM vectors)", (_HNSW_INDEX,)
        ).fetchone()
        has_index, existing = row
        return bool(has_index) and adding >= HNSW_REBUILD_SHARE * (existing + adding)

    def _drop_vectors(self, conn: psycopg.Connection) -> None:
        conn.execute("TRUNCATE vectors")
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(_HNSW_INDEX)))
        conn.execute("DELETE FROM meta WHERE key = ANY(%s)", ([_MODEL_KEY, _DIM_KEY],))

    # --- what is indexed ---------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._connection() as conn:
            return self._get_meta(conn, key)

    def generation(self) -> int:
        """A counter bumped by every committed change to what searches can return (any server)."""
        return int(self.get_meta(_GENERATION_KEY) or 0)

    def note_hashes(self) -> dict[str, str]:
        with self._connection() as conn:
            return dict(conn.execute("SELECT path, content_hash FROM notes").fetchall())

    def known_hashes(self) -> set[str]:
        """Hashes with a vector for the current model, in the index or in the embedding cache.

        A cached hash needs no embedding: ``apply`` restores its vector from the
        cache when a chunk with that text comes back.
        """
        with self._connection() as conn:
            model = self._read_model(conn)
            if model is None:
                return set()
            rows = conn.execute(
                "SELECT hash FROM vectors UNION SELECT hash FROM embedding_cache WHERE model_id = %s AND dim = %s",
                model,
            ).fetchall()
        return {row[0] for row in rows}

    def hashes_without_vector(self) -> set[str]:
        """Chunk texts the index has no vector for (e.g. after ``reset_vectors``); usually empty."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT c.hash FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM vectors v WHERE v.hash = c.hash)"
            ).fetchall()
        return {row[0] for row in rows}

    # --- embedding cache (qmdr.store.base.EmbeddingCache) ------------------------------------

    def cached_hashes(self, model_id: str, dim: int, hashes: Iterable[str]) -> set[str]:
        """Those of ``hashes`` that (model_id, dim) has embedded before (any model, not just the current)."""
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return set()
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT hash FROM embedding_cache WHERE model_id = %s AND dim = %s AND hash = ANY(%s)",
                (model_id, dim, wanted),
            ).fetchall()
        return {row[0] for row in rows}

    def cache_vectors(self, model_id: str, dim: int, vectors: Mapping[str, np.ndarray]) -> None:
        """Keep vectors by (model, hash) now, before the index itself changes (its own transaction)."""
        rows = [(model_id, dim, h, _checked_vector(v, dim, h)) for h, v in vectors.items()]
        if not rows:
            return
        with self._writing() as conn, conn.cursor() as cur:
            cur.executemany(_INSERT_CACHE, rows)

    # --- writing -----------------------------------------------------------------------------

    def apply(self, change: IndexChange) -> None:
        """Apply all of ``change`` in one transaction: all of it or none.

        Order (as in the sqlite store): model (and ``replace_vectors``), deletes,
        upserts (a note's old chunks go, its new ones come), vectors (each checked
        on the way in: a bad one rolls everything back; every one is cached, those
        a chunk uses are stored), vectors of new chunks restored from the cache,
        then vectors no chunk uses any more are deleted.
        """
        bad_meta = RESERVED_META.intersection(change.meta)
        if bad_meta:
            raise StoreError(f"meta keys {sorted(bad_meta)} are maintained by the store itself")
        with self._writing() as conn:
            current = self._read_model(conn)
            model = None if change.replace_vectors else current
            if change.model is not None:
                _check_model(*change.model)
                if not change.replace_vectors and change.model != current:
                    self._refuse_other_model(conn, current, change.model)
                model = change.model
            if model != current:
                self._write_model(conn, model)
            paths = list(dict.fromkeys([*change.deletes, *(note.path for note, _ in change.upserts)]))
            new_hashes = sorted({chunk.hash for _, chunks in change.upserts for chunk in chunks})
            # Hashes that may have lost their last chunk: checked for orphans at the end.
            maybe_orphans = set(change.vectors)
            if paths:
                old = conn.execute("SELECT DISTINCT hash FROM chunks WHERE note_path = ANY(%s)", (paths,))
                maybe_orphans.update(row[0] for row in old.fetchall())
                conn.execute("DELETE FROM notes WHERE path = ANY(%s)", (paths,))  # cascades to chunks
            # A new model, a rebuild or a big addition (first index, large import) fills a shadow table
            # and builds its HNSW graph once at the end instead of growing the live graph row by row
            # (~25x faster at 10k rows, benchmarks/store_compare.py) while searches read the old one.
            shadow = (
                model != current
                or change.replace_vectors
                or self._worth_rebuilding_hnsw(conn, len(set(change.vectors).union(new_hashes)))
            )
            if shadow:
                self._create_shadow_vectors(conn, model, keep=model == current and not change.replace_vectors)
            vectors = sql.Identifier(_SHADOW_VECTORS if shadow else _VECTORS)
            with conn.cursor() as cur:
                if change.upserts:
                    cur.executemany(_INSERT_NOTE, [_note_row(note) for note, _ in change.upserts])
                    # COPY: a first index carries ~100k chunks, several times faster than INSERTs.
                    with cur.copy(_COPY_CHUNKS) as copy:
                        for note, chunks in change.upserts:
                            for chunk in chunks:
                                copy.write_row(_chunk_row(note, chunk))
                if change.vectors:
                    if model is None:
                        raise StoreError("vectors given but no embedding model recorded: set IndexChange.model")
                    cur.execute(_CREATE_INCOMING)
                    with cur.copy("COPY incoming_vectors (hash, embedding) FROM STDIN") as copy:
                        for chunk_hash, vector in change.vectors.items():
                            copy.write_row((chunk_hash, _checked_vector(vector, model[1], chunk_hash)))
                    cur.execute(_CACHE_INCOMING, model)
                    cur.execute(_STORE_INCOMING.format(vectors=vectors))
            if model is not None and new_hashes:
                # Text this model embedded before (then deleted, or before a rebuild) gets its vector back.
                conn.execute(_RESTORE_FROM_CACHE.format(vectors=vectors), (*model, new_hashes))
            if maybe_orphans:
                # A vector no chunk uses only crowds out HNSW candidates; the cache keeps it.
                conn.execute(_DELETE_ORPHAN_VECTORS.format(vectors=vectors), (sorted(maybe_orphans),))
            if shadow:
                self._swap_in_shadow_vectors(conn, model)
            for key, value in change.meta.items():
                self._put_meta(conn, key, value)
            self._put_meta(conn, _LAST_REINDEX_KEY, datetime.now(UTC).isoformat(timespec="seconds"))
            if change.upserts or change.deletes or change.vectors or change.replace_vectors or model != current:
                self._bump_generation(conn)

    def _write_model(self, conn: psycopg.Connection, model: tuple[str, int] | None) -> None:
        """Record ``model`` as the index's (None: forget it); the vectors table follows in the same apply."""
        if model is None:
            conn.execute("DELETE FROM meta WHERE key = ANY(%s)", ([_MODEL_KEY, _DIM_KEY],))
            return
        self._put_meta(conn, _MODEL_KEY, model[0])
        self._put_meta(conn, _DIM_KEY, str(model[1]))

    @contextmanager
    def _writing(self) -> Iterator[psycopg.Connection]:
        """One write transaction, queued behind any other writer of this vault (any server).

        A transaction-scoped advisory lock serialises writers the way SQLite's
        ``BEGIN IMMEDIATE`` does; past ``WRITE_LOCK_TIMEOUT_MS`` the caller gets
        ``IndexBusy``. Database errors roll back and become ``StoreError``.
        """
        try:
            with self._connection() as conn, conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{WRITE_LOCK_TIMEOUT_MS}ms",))
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (WRITE_LOCK_CLASS, self._lock_id))
                yield conn
        except psycopg.errors.LockNotAvailable as exc:
            raise IndexBusy("another server is writing this index; wait for its reindex to end") from exc
        except psycopg.Error as exc:
            raise StoreError(f"index write failed and was rolled back ({self._where}): {exc}") from exc

    @contextmanager
    def reindex_lock(self) -> Iterator[None]:
        """Hold this vault's reindex lock for the ``with`` body; ``IndexBusy`` if another holds it.

        Non-blocking on purpose: a second reindex should be told, not queued. The lock
        lives on a dedicated connection (a session lock belongs to its connection), so
        it is released when the body ends or, if the process dies, when the server
        notices the connection is gone. Searches and single ``apply`` calls never take
        it, and reindexes of other vaults take their own.
        """
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot reach the PostgreSQL index ({self._where}) to lock it: {_reason(exc)}",
                retry_after=UNAVAILABLE_RETRY_AFTER_SECONDS,
            ) from exc
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (REINDEX_LOCK_CLASS, self._lock_id)).fetchone()[0]
            if not got:
                raise IndexBusy(f"another reindex is running for vault {self.vault!r}")
            try:
                yield
            finally:
                with suppress(psycopg.Error):  # a lost connection has released the lock already
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (REINDEX_LOCK_CLASS, self._lock_id))
        finally:
            conn.close()

    # --- searching ---------------------------------------------------------------------------

    def keyword(self, query: str, k: int, filters: Filters = Filters()) -> list[Hit]:
        """Chunks matching any word of ``query``, best ``ts_rank_cd`` first.

        Runs of scripts written without spaces are also matched as substrings
        (``_unspaced_hits``); when both find chunks the two lists are fused by RRF,
        as the sqlite store fuses its unicode61 and trigram tables.
        """
        if k <= 0:
            return []
        k = min(k, MAX_K)
        lists: dict[str, list[Hit]] = {}
        where, params = _filter_sql(filters)
        terms = query_pieces(query)
        with self._connection() as conn:
            if terms:
                one_term = sql.SQL("plainto_tsquery({cfg}, %s)").format(cfg=sql.Literal(schema.TEXT_SEARCH_CONFIG))
                tsquery = sql.SQL(" || ").join([one_term] * len(terms))
                statement = sql.SQL(
                    "WITH q AS (SELECT {tsquery} AS query) "
                    "SELECT {cols}, ts_rank_cd(c.tsv, q.query) AS score, n.tags "
                    "FROM q, chunks c JOIN notes n ON n.path = c.note_path "
                    "WHERE c.tsv @@ q.query {where} "
                    "ORDER BY score DESC, c.id LIMIT %s"
                ).format(tsquery=tsquery, cols=_HIT_COLUMNS, where=where)
                lists["words"] = [_hit(row) for row in conn.execute(statement, [*terms, *params, k]).fetchall()]
            pieces = unspaced_pieces(query)
            if pieces:
                lists["unspaced"] = self._unspaced_hits(conn, pieces, k, where, params)
        return _fuse_keyword_lists(lists, k)

    @staticmethod
    def _unspaced_hits(
        conn: psycopg.Connection, pieces: list[str], k: int, where: sql.Composable, params: list[Any]
    ) -> list[Hit]:
        """Chunks containing any of ``pieces`` (substrings), those containing more of them first.

        Each piece is a ``LIKE '%piece%'``, which the partial pg_trgm GIN index on the
        chunks holding such scripts answers for pieces of 3+ characters (the trigrams
        of the query's runs, like the sqlite store's trigram MATCH); 1-2 character
        pieces scan those chunks.
        """
        contains = sql.SQL(" OR ").join([sql.SQL("c.text LIKE %s")] * len(pieces))
        statement = sql.SQL(
            "SELECT {cols}, (SELECT count(*) FROM unnest(%s::text[]) p WHERE strpos(c.text, p) > 0) AS score, "
            "n.tags FROM chunks c JOIN notes n ON n.path = c.note_path "
            "WHERE c.text ~ {unspaced} AND ({contains}) {where} ORDER BY score DESC, c.id LIMIT %s"
        ).format(cols=_HIT_COLUMNS, unspaced=sql.Literal(schema.UNSPACED_TEXT_REGEX), contains=contains, where=where)
        patterns = [f"%{_like_escape(piece)}%" for piece in pieces]
        rows = conn.execute(statement, [pieces, *patterns, *params, k]).fetchall()
        return [_hit(row) for row in rows]

    def nearest(self, vector: np.ndarray, k: int, filters: Filters = Filters()) -> list[Hit]:
        """The ``k`` chunks most cosine-similar to ``vector``, best first.

        Unfiltered: the HNSW index. Filtered: an exact scan when the filter keeps at
        most ``EXACT_FILTERED_MAX`` chunks; otherwise an iterative HNSW scan that walks
        on until ``k`` chunks pass the filter, with the exact scan as fallback when its
        budget (``ITERATIVE_MAX_SCAN_TUPLES``) ends with fewer.
        """
        if k <= 0:
            return []
        k = min(k, MAX_K)
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        where, params = _filter_sql(filters)
        with self._connection() as conn:
            model = self._read_model(conn)
            if model is None:
                return []
            if query.shape[0] != model[1]:
                raise ModelMismatch(
                    f"query vector has {query.shape[0]} dimensions but the index holds {model[1]} "
                    f"({model[0]}); {REBUILD_HINT}",
                    stored=model,
                )
            if is_unfiltered(filters):
                return self._nearest_hnsw(conn, query, k)
            selected, total = conn.execute(
                sql.SQL(
                    "SELECT (SELECT count(*) FROM chunks c JOIN notes n ON n.path = c.note_path WHERE TRUE {}), "
                    "(SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass)"
                ).format(where),
                params,
            ).fetchone()
            if selected > EXACT_FILTERED_MAX:
                share = selected / max(total, selected)  # reltuples is an estimate (and -1 before ANALYZE)
                breadth = math.ceil(FILTERED_OVERFETCH * k / share)
                hits = self._nearest_iterative(conn, query, k, breadth, where, params)
                if len(hits) >= k:
                    return hits
            # Exact: score every filtered chunk, keep the top k, only then fetch their columns.
            # MATERIALIZED keeps the planner from answering the ORDER BY with the HNSW index;
            # the LATERAL ... LIMIT 1 makes each vector an index lookup by hash, so the cost
            # follows the filtered set, not the whole vectors table.
            exact = sql.SQL(
                "WITH scored AS MATERIALIZED ("
                "SELECT c.id, 1 - (v.embedding <=> %s) AS score FROM chunks c "
                "JOIN notes n ON n.path = c.note_path "
                "CROSS JOIN LATERAL (SELECT embedding FROM vectors WHERE hash = c.hash LIMIT 1) v "
                "WHERE TRUE {where}), "
                "top AS (SELECT id, score FROM scored ORDER BY score DESC, id LIMIT %s) "
                "SELECT {cols}, top.score, n.tags FROM top JOIN chunks c ON c.id = top.id "
                "JOIN notes n ON n.path = c.note_path ORDER BY top.score DESC, c.id"
            ).format(cols=_HIT_COLUMNS, where=where)
            rows = conn.execute(exact, [query, *params, k]).fetchall()
        return [_hit(row) for row in rows]

    def _ef_search(self, k: int) -> str:
        return str(min(EF_SEARCH_MAX, max(self.ef_search_floor, EF_SEARCH_PER_RESULT * k)))

    def _nearest_hnsw(self, conn: psycopg.Connection, query: np.ndarray, k: int) -> list[Hit]:
        """Top ``k`` texts from the HNSW index, joined to their chunks (unfiltered)."""
        approx = sql.SQL(
            "WITH nn AS MATERIALIZED (SELECT hash, embedding <=> %s AS distance FROM vectors "
            "ORDER BY embedding <=> %s LIMIT %s) "
            "SELECT {cols}, 1 - nn.distance AS score, n.tags "
            "FROM nn JOIN chunks c ON c.hash = nn.hash JOIN notes n ON n.path = c.note_path "
            "ORDER BY nn.distance, c.id LIMIT %s"
        ).format(cols=_HIT_COLUMNS)
        with conn.transaction():  # SET LOCAL scope
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (self._ef_search(k),))
            rows = conn.execute(approx, [query, query, k, k]).fetchall()
        return [_hit(row) for row in rows]

    def _nearest_iterative(
        self,
        conn: psycopg.Connection,
        query: np.ndarray,
        k: int,
        breadth: int,
        where: sql.Composable,
        params: list[Any],
    ) -> list[Hit]:
        """Filtered HNSW search: pgvector's iterative scan keeps walking the graph until ``k`` rows pass.

        ``strict_order`` returns rows in exact distance order; the nested loop over
        the index scan (the plan pgvector documents for filtered iterative scans)
        applies the filter to each candidate as the walk produces it. ``breadth``
        sets ``hnsw.ef_search`` as for an unfiltered search of that many rows.
        """
        approx = sql.SQL(
            "SELECT {cols}, 1 - (v.embedding <=> %s) AS score, n.tags "
            "FROM vectors v JOIN chunks c ON c.hash = v.hash JOIN notes n ON n.path = c.note_path "
            "WHERE TRUE {where} ORDER BY v.embedding <=> %s LIMIT %s"
        ).format(cols=_HIT_COLUMNS, where=where)
        with conn.transaction():  # SET LOCAL scope
            for name, value in (
                ("hnsw.ef_search", self._ef_search(breadth)),
                ("hnsw.iterative_scan", "strict_order"),
                ("hnsw.max_scan_tuples", str(ITERATIVE_MAX_SCAN_TUPLES)),
            ):
                conn.execute("SELECT set_config(%s, %s, true)", (name, value))
            rows = conn.execute(approx, [query, *params, query, k]).fetchall()
        return [_hit(row) for row in rows]

    # --- reading -----------------------------------------------------------------------------

    def get_note(self, path: str) -> dict[str, Any] | None:
        """The stored note and its chunks (in order), or None when not indexed."""
        with self._connection() as conn:
            cur = conn.execute(
                "SELECT path, title, tags, frontmatter, body, body_line, content_hash, mtime, size, links, "
                "dates, warnings, indexed_at FROM notes WHERE path = %s",
                (path,),
            )
            row = cur.fetchone()
            if row is None:
                return None
            note = dict(zip([d.name for d in cur.description], row, strict=True))
            note["indexed_at"] = note["indexed_at"].isoformat(timespec="seconds")
            chunks = conn.execute(
                "SELECT id, ordinal, heading_trail, start_line, end_line, text, hash FROM chunks "
                "WHERE note_path = %s ORDER BY ordinal",
                (path,),
            ).fetchall()
        note["chunks"] = [
            {
                "id": c[0],
                "ordinal": c[1],
                "heading_trail": list(c[2]),
                "start_line": c[3],
                "end_line": c[4],
                "text": c[5],
                "hash": c[6],
            }
            for c in chunks
        ]
        return note

    def stats(self) -> IndexStats:
        """Counts and model in one statement, so they describe one snapshot."""
        with self._connection() as conn:
            row = conn.execute(
                _STATS,
                {
                    "keys": [_MODEL_KEY, _DIM_KEY, _LAST_REINDEX_KEY, _GENERATION_KEY],
                    "hnsw": _HNSW_INDEX,
                    "schema": schema.vault_schema(self.vault),
                },
            ).fetchone()
        notes, chunks, texts, vectors, cached, meta, size, version, hnsw = row
        model_id, dim = meta.get(_MODEL_KEY), meta.get(_DIM_KEY)
        has_model = model_id is not None and dim is not None
        return IndexStats(
            notes=notes,
            chunks=chunks,
            vectors=vectors,
            model_id=model_id if has_model else None,
            dim=int(dim) if has_model else None,
            last_reindex=meta.get(_LAST_REINDEX_KEY),
            extra={  # the sqlite store's keys first, then what only a server has
                "generation": int(meta.get(_GENERATION_KEY) or 0),
                "schema_version": schema.LATEST_VERSION,
                "distinct_texts": texts,
                "texts_without_vector": texts - vectors,
                "embedding_cache_entries": cached,
                "vector_search": "hnsw" if hnsw else "exact",
                "size_bytes": size,  # this vault's tables with their indexes and TOAST
                "backend": "postgres",
                "server_version": version,
                "hnsw_index": hnsw,
            },
        )

    def close(self) -> None:
        """Give the shared pool back (closed with its last user); closing twice is harmless."""
        shared, self._shared = self._shared, None
        if shared is not None:
            release_pool(self._url, shared)

    # --- meta helpers ------------------------------------------------------------------------

    def _read_model(self, conn: psycopg.Connection) -> tuple[str, int] | None:
        model_id = self._get_meta(conn, _MODEL_KEY)
        dim = self._get_meta(conn, _DIM_KEY)
        return (model_id, int(dim)) if model_id is not None and dim is not None else None

    @staticmethod
    def _get_meta(conn: psycopg.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    @staticmethod
    def _bump_generation(conn: psycopg.Connection) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, '1') "
            "ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text",
            (_GENERATION_KEY,),
        )

    @staticmethod
    def _put_meta(conn: psycopg.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


# --- SQL and row shaping ---------------------------------------------------------------------

_HIT_COLUMNS = sql.SQL("c.id, c.hash, c.note_path, c.title, c.heading_trail, c.start_line, c.end_line, c.text")

_STATS = (
    "SELECT (SELECT count(*) FROM notes), (SELECT count(*) FROM chunks), "
    "(SELECT count(DISTINCT hash) FROM chunks), (SELECT count(*) FROM vectors), "
    "(SELECT count(*) FROM embedding_cache), "
    "(SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb) FROM meta WHERE key = ANY(%(keys)s)), "
    "(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
    "WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND c.relkind = 'r'), "
    "current_setting('server_version'), "
    "to_regclass(%(hnsw)s) IS NOT NULL"
)
_INSERT_NOTE = (
    "INSERT INTO notes (path, title, tags, tag_keys, frontmatter, body, body_line, content_hash, mtime, "
    "size, links, dates, warnings, field_terms, note_date) "
    "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
)
_COPY_CHUNKS = (
    "COPY chunks (note_path, ordinal, title, heading_trail, headings, start_line, end_line, text, hash) FROM STDIN"
)
# Vectors arrive by COPY into a transaction-scoped table, then are cached (all of them) and
# stored (those a chunk uses; a hash already present keeps its row: same text, same model,
# same vector). Typing the column vector(dim) on the way into ``vectors`` re-checks the dim.
_CREATE_INCOMING = "CREATE TEMP TABLE incoming_vectors (hash text, embedding vector) ON COMMIT DROP"
_CACHE_INCOMING = (
    "INSERT INTO embedding_cache (model_id, dim, hash, embedding) "
    "SELECT %s, %s, hash, embedding FROM incoming_vectors ON CONFLICT (model_id, dim, hash) DO NOTHING"
)
# The next three are sql.SQL with {vectors}: the live table, or the shadow one of a rebuilding apply.
_STORE_INCOMING = sql.SQL(
    "INSERT INTO {vectors} (hash, embedding) SELECT i.hash, i.embedding FROM incoming_vectors i "
    "WHERE EXISTS (SELECT 1 FROM chunks c WHERE c.hash = i.hash) ON CONFLICT (hash) DO NOTHING"
)
_INSERT_CACHE = (
    "INSERT INTO embedding_cache (model_id, dim, hash, embedding) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (model_id, dim, hash) DO NOTHING"
)
_RESTORE_FROM_CACHE = sql.SQL(
    "INSERT INTO {vectors} (hash, embedding) SELECT hash, embedding FROM embedding_cache "
    "WHERE model_id = %s AND dim = %s AND hash = ANY(%s) ON CONFLICT (hash) DO NOTHING"
)
_DELETE_ORPHAN_VECTORS = sql.SQL(
    "DELETE FROM {vectors} v WHERE v.hash = ANY(%s) AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.hash = v.hash)"
)


def _note_row(note: Note) -> tuple[Any, ...]:
    frontmatter = json.dumps(note.frontmatter, default=str)
    return (
        note.path,
        note.title,
        list(note.tags),
        list(dict.fromkeys(key for key in map(tag_key, note.tags) if key)),
        frontmatter,
        note.body,
        getattr(note, "body_line", 1),
        note.content_hash,
        note.mtime,
        note.size,
        list(note.links),
        json.dumps(note.dates, default=str),
        list(note.warnings),
        field_terms(json.loads(frontmatter)),  # from the frontmatter as stored, as the migration backfills
        note_timestamp(note.dates, note.mtime),
    )


def _chunk_row(note: Note, chunk: Chunk) -> tuple[Any, ...]:
    if chunk.note_path != note.path:
        raise StoreError(f"chunk {chunk.ordinal} of {note.path} claims note {chunk.note_path}")
    return (
        note.path,
        chunk.ordinal,
        note.title,
        list(chunk.heading_trail),
        HEADING_SEPARATOR.join(chunk.heading_trail),
        chunk.start_line,
        chunk.end_line,
        chunk.text,
        chunk.hash,
    )


def _check_model(model_id: str, dim: int) -> None:
    """StoreError for a model without a name or with a dim pgvector cannot store."""
    if not model_id or not 0 < dim <= MAX_DIM:
        raise StoreError(f"invalid embedding model {model_id!r} with {dim} dimensions (1..{MAX_DIM})")


def _checked_vector(vector: np.ndarray, dim: int, chunk_hash: str) -> np.ndarray:
    """``vector`` as float32 of shape (dim,); StoreError for a wrong shape or NaN/infinity."""
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (dim,):
        raise StoreError(f"vector for chunk {chunk_hash[:12]} has shape {array.shape}, expected ({dim},)")
    if not np.isfinite(array).all():
        raise StoreError(f"vector for chunk {chunk_hash[:12]} holds NaN or infinity")
    return array


def _filter_sql(filters: Filters) -> tuple[sql.Composable, list[Any]]:
    """SQL appended to a WHERE (starting with AND) for ``filters``, with its parameters."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if filters.path_prefix:  # a plain string prefix, like qmdr.store.filtering.note_matches
        parts.append(sql.SQL("AND c.note_path LIKE %s ESCAPE '\\'"))
        params.append(_like_escape(filters.path_prefix) + "%")
    required = filter_tag_keys(filters)
    if required:
        parts.append(sql.SQL("AND n.tag_keys @> %s::text[]"))
        params.append(list(required))
    for _, terms in filters.where:  # each key: one of its terms (any-of, GIN overlap); all keys must hold
        parts.append(sql.SQL("AND n.field_terms && %s::text[]"))
        params.append(list(terms))
    if filters.after is not None:
        parts.append(sql.SQL("AND n.note_date >= %s"))
        params.append(filters.after)
    if filters.before is not None:
        parts.append(sql.SQL("AND n.note_date < %s"))
        params.append(filters.before)
    return sql.SQL(" ").join(parts), params


def unspaced_pieces(query: str) -> list[str]:
    """The substrings keyword search looks for in scripts written without spaces.

    The trigrams of every unspaced run of 3+ characters (at most ``MAX_TRIGRAM_TERMS``),
    or, when no run is that long, the 1-2 character runs themselves: the same units
    the sqlite store matches (``qmdr.search.keyword_query.trigram_query`` and
    ``short_unspaced_runs``), so both backends find the same chunks.
    """
    runs = unspaced_runs(query)
    trigrams: dict[str, None] = {}
    for run in runs:
        for start in range(len(run) - TRIGRAM_CHARS + 1):
            trigrams[run[start : start + TRIGRAM_CHARS]] = None
    if trigrams:
        return list(trigrams)[:MAX_TRIGRAM_TERMS]
    return runs[:MAX_QUERY_TERMS]


def _fuse_keyword_lists(lists: Mapping[str, list[Hit]], k: int) -> list[Hit]:
    """One keyword list: the only non-empty one as it is, or several fused by RRF (score = RRF score)."""
    found = {name: hits for name, hits in lists.items() if hits}
    if len(found) <= 1:
        return next(iter(found.values()), [])
    by_id = {hit.chunk_id: hit for hits in found.values() for hit in hits}
    fused = reciprocal_rank_fusion({name: [hit.chunk_id for hit in hits] for name, hits in found.items()})
    return [dataclasses.replace(by_id[chunk_id], score=score) for chunk_id, score in fused[:k]]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _hit(row: Sequence[Any]) -> Hit:
    chunk_id, chunk_hash, path, title, trail, start, end, text, score, tags = row
    return Hit(
        chunk_id=chunk_id,
        chunk_hash=chunk_hash,
        note_path=path,
        title=title,
        heading_trail=tuple(trail),
        start_line=start,
        end_line=end,
        text=text,
        score=float(score),
        tags=tuple(tags),
    )
