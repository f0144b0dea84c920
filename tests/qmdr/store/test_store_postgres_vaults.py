"""Every vault in one PostgreSQL database: a schema each, locks each, one shared pool; versions checked at open."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from qmdr.errors import IndexBusy, StoreError
from qmdr.store.base import Filters, IndexChange
from qmdr.store.migrations import postgres as schema
from qmdr.store.postgres import PostgresStore, _filter_sql, drop_vault_index, unspaced_pieces
from tests.qmdr.store_contract import DIM, MODEL, closing_every_store, make_note, paths, unit

pytestmark = pytest.mark.postgres

WORKER_WAIT_SECONDS = 120  # generous bound for a spawned process to start or finish (not a speed check)


@pytest.fixture
def open_vault(pg_url: str) -> Iterator:
    def open_one(vault: str) -> PostgresStore:
        return PostgresStore(pg_url, vault=vault, pool_size=2)

    with closing_every_store(open_one) as factory:
        yield factory


def _one_note(store: PostgresStore, path: str, text: str, vector: np.ndarray) -> None:
    note, chunks = make_note(path, [text])
    store.set_embedding_model(MODEL, DIM)
    store.apply(IndexChange(upserts=[(note, chunks)], vectors={chunks[0].hash: vector}))


def test_vaults_in_one_database_never_see_each_other(open_vault, pg_url: str) -> None:
    alice, bob = open_vault("alice"), open_vault("bob")
    _one_note(alice, "same/path.md", "alice writes about gannets", unit(1))
    _one_note(bob, "same/path.md", "bob writes about puffins", unit(0, 1))
    assert paths(alice.keyword("gannets", 5)) == ["same/path.md"]
    assert alice.keyword("puffins", 5) == [] and bob.keyword("gannets", 5) == []
    assert bob.nearest(unit(1), 5)[0].text == "bob writes about puffins"
    assert alice.stats().notes == bob.stats().notes == 1
    assert alice.stats().extra["size_bytes"] > 0

    alice.close()
    drop_vault_index(pg_url, "alice")  # removing one vault leaves the other whole
    assert paths(bob.keyword("puffins", 5)) == ["same/path.md"]
    with psycopg.connect(pg_url) as conn:
        schemas = {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'vault_%'")}
    assert schemas == {"vault_bob"}
    assert open_vault("alice").stats().notes == 0  # opening it again starts empty


def test_long_vault_names_get_distinct_schemas_within_the_identifier_limit(open_vault) -> None:
    long_a, long_b = "a" * 60 + "-one", "a" * 60 + "-two"
    names = {schema.vault_schema(name) for name in (long_a, long_b)}
    assert len(names) == 2 and all(len(name.encode()) <= schema.MAX_IDENTIFIER_BYTES for name in names)
    _one_note(open_vault(long_a), "a.md", "first long vault", unit(1))
    assert open_vault(long_b).stats().notes == 0


def _hold_reindex_lock(url: str, vault: str, holding, release) -> None:
    """Worker process: hold ``vault``'s reindex lock until told to release it."""
    store = PostgresStore(url, vault=vault, pool_size=1)
    with store.reindex_lock():
        holding.set()
        release.wait(WORKER_WAIT_SECONDS)
    store.close()


def test_reindex_lock_serialises_one_vault_across_processes_and_leaves_others_free(open_vault, pg_url) -> None:
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    worker = context.Process(target=_hold_reindex_lock, args=(pg_url, "shared", holding, release))
    worker.start()
    try:
        assert holding.wait(WORKER_WAIT_SECONDS), "the worker never took the lock"
        shared, other = open_vault("shared"), open_vault("other")
        with pytest.raises(IndexBusy, match="another reindex is running for vault 'shared'"), shared.reindex_lock():
            pass
        with other.reindex_lock():  # another vault's reindex is not held up
            _one_note(other, "o.md", "other vault text", unit(1))
        _one_note(shared, "s.md", "searches and single writes never wait for a reindex", unit(1))
    finally:
        release.set()
        worker.join(WORKER_WAIT_SECONDS)
    assert worker.exitcode == 0
    with shared.reindex_lock():  # the worker's lock went with it
        pass


def test_a_killed_reindex_releases_its_lock(open_vault, pg_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    worker = context.Process(target=_hold_reindex_lock, args=(pg_url, "crashy", holding, release))
    worker.start()
    assert holding.wait(WORKER_WAIT_SECONDS)
    worker.kill()
    worker.join(WORKER_WAIT_SECONDS)
    store = open_vault("crashy")
    with store.reindex_lock():  # the server dropped the dead session's lock
        pass


def test_an_index_of_the_single_vault_layout_becomes_the_default_vault(pg_url: str) -> None:
    """Tables in ``public`` (qmdr before vault schemas) are moved into ``vault_default`` with their rows."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("SET search_path = public")
        conn.execute(schema.STEPS[0][1])
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('generation', '7')")
        conn.execute(
            "INSERT INTO notes (path, title, body, content_hash, mtime, size) "
            "VALUES ('old.md', 'Old', 'kept across the move', 'h', 0, 1)"
        )
        conn.execute(
            "INSERT INTO chunks (note_path, ordinal, title, heading_trail, headings, start_line, "
            "end_line, text, hash) VALUES ('old.md', 0, 'Old', '{}', '', 1, 1, "
            "'kept across the move', 'h')"
        )
    store = PostgresStore(pg_url, pool_size=1)
    try:
        assert paths(store.keyword("kept", 5)) == ["old.md"]
        assert store.generation() == 7
        assert store.get_meta(schema.SCHEMA_VERSION_KEY) == str(schema.LATEST_VERSION)
    finally:
        store.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('public.notes')").fetchone()[0] is None


def test_an_old_pgvector_is_refused_with_the_version_found_and_needed(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        # What a server with pgvector 0.6 reports (the wheel has no 0.6 install script to create it)
        conn.execute("UPDATE pg_extension SET extversion = '0.6.2' WHERE extname = 'vector'")
    with pytest.raises(StoreError) as caught:
        PostgresStore(pg_url, pool_size=1)
    message = str(caught.value)
    assert "pgvector 0.6.2" in message and ">= 0.8.0" in message
    assert "ALTER EXTENSION vector UPDATE" in message  # the server has 0.8.2 available


def test_unspaced_pieces_are_the_trigrams_of_long_runs_else_the_short_runs() -> None:
    assert unspaced_pieces("東京タワー tower") == ["東京タ", "京タワ", "タワー"]
    assert unspaced_pieces("東京 と") == ["東京", "と"]
    assert unspaced_pieces("plain words only") == []


def test_a_broad_filter_is_answered_by_the_iterative_index_scan(open_vault) -> None:
    """More filtered chunks than an exact scan takes, none near the query: the HNSW walk goes on until k pass."""
    store = open_vault("iterative")
    store.set_embedding_model(MODEL, DIM)
    rng = np.random.default_rng(5)
    change = IndexChange()
    for prefix, count, direction in (("near/", 800, 0), ("far/", 2_200, 3)):
        for i in range(count):
            note, chunks = make_note(f"{prefix}{i}.md", [f"{prefix} {i}"])
            vector = np.zeros(DIM, dtype=np.float32)
            vector[direction] = 1.0
            vector += 0.3 * rng.standard_normal(DIM).astype(np.float32)
            change.upserts.append((note, chunks))
            change.vectors[chunks[0].hash] = vector / np.linalg.norm(vector)
    store.apply(change)
    where_sql, params = _filter_sql(Filters(path_prefix="far/"))
    query = unit(1)
    with store._connection() as conn:  # the iterative path alone, without the exact fallback
        hits = store._nearest_iterative(conn, query, 10, 10, where_sql, params)  # breadth of an unfiltered k
    assert len(hits) == 10 and all(hit.note_path.startswith("far/") for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert [hit.chunk_id for hit in hits] == [
        hit.chunk_id for hit in store.nearest(query, 10, Filters(path_prefix="far/"))
    ]


def test_stores_of_one_process_share_one_pool_grown_to_the_largest_size_asked(pg_url: str) -> None:
    from qmdr.store.pg_pool import acquire_pool, release_pool

    small = acquire_pool(pg_url, 1)
    try:
        first = PostgresStore(pg_url, vault="one", pool_size=3)
        second = PostgresStore(pg_url, vault="two", pool_size=2)
        assert first._pool is second._pool is small.pool and small.pool.max_size == 3
        _one_note(first, "a.md", "first vault", unit(1))
        assert second.stats().notes == 0 and first.stats().notes == 1  # one pool, each its own schema
        first.close()
        second.close()
        assert not small.pool.closed  # still in use here
    finally:
        release_pool(pg_url, small)
    assert small.pool.closed  # the last user closed it
