"""Searches never wait for a PostgreSQL rebuild: mid-rebuild they answer from the last commit.

A rebuild (``--rebuild``, a new model, a large import) writes a vault's vectors into a
shadow table and builds its HNSW graph there; the live table is only swapped at the
end. Each test holds the writer inside its transaction (on an Event) at a point of
the rebuild, searches from another connection in another thread, and checks the
search returned the old state *before* the writer was let go: had it waited for the
writer's lock, it could only return after the release.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from qmdr.errors import IndexBusy
from qmdr.store import postgres as pg
from qmdr.store.base import Filters, IndexChange
from qmdr.store.postgres import HNSW_REBUILD_MIN_VECTORS, PostgresStore
from tests.qmdr.store_contract import DIM, MODEL, closing_every_store, make_note, paths

pytestmark = pytest.mark.postgres

SMALL_POOL = 4  # writer, reader and the checks: a few connections are plenty
WAIT_SECONDS = 120  # generous bound for a thread to reach a point or finish (not a speed check)
OLD_NOTES = 20
NEW_NOTES = HNSW_REBUILD_MIN_VECTORS + 50  # big enough for the one-build path even without --rebuild
NEW_MODEL = ("another-model", DIM * 2)


@pytest.fixture
def make_store(pg_url: str) -> Iterator[Callable[[], PostgresStore]]:
    with closing_every_store(lambda: PostgresStore(pg_url, pool_size=SMALL_POOL)) as factory:
        yield factory


def _unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _notes(prefix: str, word: str, vectors: np.ndarray) -> IndexChange:
    change = IndexChange()
    for i, vector in enumerate(vectors):
        note, chunks = make_note(f"{prefix}/{i}.md", [f"{word} field note {i}"])
        change.upserts.append((note, chunks))
        change.vectors[chunks[0].hash] = vector
    return change


def _rebuild(old: IndexChange, new_vectors: np.ndarray) -> IndexChange:
    """What ``qmdr index --rebuild`` sends: every note again (here: the old ones replaced), vectors replaced."""
    change = _notes("new", "osprey", new_vectors)
    change.deletes = [note.path for note, _ in old.upserts]
    change.model, change.replace_vectors = (MODEL, DIM), True
    return change


def _large_import(_old: IndexChange, new_vectors: np.ndarray) -> IndexChange:
    """Many new notes, nothing replaced: the live vectors are kept and the graph is built once."""
    return _notes("new", "osprey", new_vectors)


def _new_model(old: IndexChange, new_vectors: np.ndarray) -> IndexChange:
    """A rebuild with another embedding model of another dim: the column is retyped in the shadow."""
    change = _rebuild(old, new_vectors)
    change.model = NEW_MODEL
    return change


CHANGES = {"rebuild": (_rebuild, DIM), "large-import": (_large_import, DIM), "new-model": (_new_model, NEW_MODEL[1])}


def _hold_while_loading(monkeypatch, hold_hash: str, reached: threading.Event, release: threading.Event) -> None:
    """Stop the writer while it streams its vectors in (the old code held the live graph's lock here)."""
    checked = pg._checked_vector

    def holding(vector: np.ndarray, dim: int, chunk_hash: str) -> np.ndarray:
        if chunk_hash == hold_hash:
            reached.set()
            release.wait(WAIT_SECONDS)
        return checked(vector, dim, chunk_hash)

    monkeypatch.setattr(pg, "_checked_vector", holding)


def _hold_before_swap(monkeypatch, _hold_hash: str, reached: threading.Event, release: threading.Event) -> None:
    """Stop the writer with the new graph built and analyzed, just before it locks the live table."""
    lock = PostgresStore._lock_live_vectors

    def holding(conn: psycopg.Connection) -> None:
        reached.set()
        release.wait(WAIT_SECONDS)
        lock(conn)

    monkeypatch.setattr(PostgresStore, "_lock_live_vectors", staticmethod(holding))


HOLDS = {"loading": _hold_while_loading, "built": _hold_before_swap}


@pytest.mark.parametrize("hold", HOLDS)
@pytest.mark.parametrize("kind", CHANGES)
def test_a_search_mid_rebuild_answers_from_the_last_commit_without_waiting(
    make_store, monkeypatch, kind: str, hold: str
) -> None:
    writer, reader = make_store(), make_store()
    old_vectors = _unit_rows(OLD_NOTES, DIM, seed=1)
    old = _notes("old", "heron", old_vectors)
    writer.apply(IndexChange(upserts=old.upserts, vectors=old.vectors, model=(MODEL, DIM)))
    old_generation = writer.generation()

    make_change, new_dim = CHANGES[kind]
    new_vectors = _unit_rows(NEW_NOTES, new_dim, seed=2)
    change = make_change(old, new_vectors)
    reached, release = threading.Event(), threading.Event()
    HOLDS[hold](monkeypatch, list(change.vectors)[-1], reached, release)

    writer_errors: list[BaseException] = []

    def write() -> None:
        try:
            writer.apply(change)
        except BaseException as exc:  # reported by the test below
            writer_errors.append(exc)
        finally:
            reached.set()  # never leave the test waiting on a writer that failed early

    seen: dict[str, Any] = {}

    def search() -> None:
        try:
            seen["nearest"] = reader.nearest(old_vectors[3], 3)
            seen["filtered"] = reader.nearest(old_vectors[5], 2, Filters(path_prefix="old/"))
            seen["keyword"] = reader.keyword("heron osprey", 50)
            seen["stats"] = reader.stats()
        except BaseException as exc:
            seen["error"] = exc

    writing = threading.Thread(target=write)
    writing.start()
    try:
        assert reached.wait(WAIT_SECONDS), "the writer never reached the hold point"
        assert not writer_errors, writer_errors
        searching = threading.Thread(target=search)
        searching.start()
        searching.join(WAIT_SECONDS)
        waited_for_writer = searching.is_alive()  # still running: it was queued behind the writer's lock
    finally:
        release.set()
        writing.join(WAIT_SECONDS)
    searching.join(WAIT_SECONDS)

    assert not writer_errors, writer_errors
    assert not waited_for_writer, "a search waited for the rebuild's transaction"
    assert "error" not in seen, seen.get("error")
    # Mid-rebuild the reader saw exactly the last commit: the old notes, their vectors, their model.
    assert seen["nearest"][0].note_path == "old/3.md"
    assert seen["nearest"][0].score == pytest.approx(1.0, abs=1e-5)
    assert paths(seen["filtered"])[0] == "old/5.md"
    assert sorted(paths(seen["keyword"])) == sorted(f"old/{i}.md" for i in range(OLD_NOTES))
    stats = seen["stats"]
    assert (stats.notes, stats.vectors, stats.model_id, stats.dim) == (OLD_NOTES, OLD_NOTES, MODEL, DIM)
    assert stats.extra["generation"] == old_generation

    # Once committed, everyone sees the whole new state, searched through a rebuilt HNSW graph.
    after = reader.stats()
    replaced = kind != "large-import"
    assert after.notes == NEW_NOTES + (0 if replaced else OLD_NOTES)
    assert after.vectors == after.notes
    assert (after.model_id, after.dim) == (NEW_MODEL if kind == "new-model" else (MODEL, DIM))
    assert after.extra["hnsw_index"] is True
    assert after.extra["generation"] > old_generation
    for i in (0, NEW_NOTES // 2, NEW_NOTES - 1):
        hit = reader.nearest(new_vectors[i], 1)[0]
        assert hit.note_path == f"new/{i}.md"
        assert hit.score == pytest.approx(1.0, abs=1e-5)
    if not replaced:
        assert reader.nearest(old_vectors[3], 1)[0].note_path == "old/3.md"
    with reader._connection() as conn:  # the shadow table is gone: it became ``vectors``
        assert conn.execute("SELECT to_regclass('vectors_next')").fetchone()[0] is None


def _writer_waits_for_a_lock(url: str) -> bool:
    """True when some session is waiting for a lock right now (the swap's LOCK TABLE)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock')"
        ).fetchone()[0]


def test_a_slow_reader_delays_the_swap_but_never_queues_other_searches(make_store, pg_url: str) -> None:
    """The swap asks for its lock in short tries: searches slip in between them and the rebuild still lands."""
    writer, reader = make_store(), make_store()
    old_vectors = _unit_rows(OLD_NOTES, DIM, seed=1)
    old = _notes("old", "heron", old_vectors)
    writer.apply(IndexChange(upserts=old.upserts, vectors=old.vectors, model=(MODEL, DIM)))
    new_vectors = _unit_rows(NEW_NOTES, DIM, seed=2)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            writer.apply(_rebuild(old, new_vectors))
        except BaseException as exc:  # reported below
            errors.append(exc)

    found: list[str] = []
    with psycopg.connect(pg_url) as slow:  # a long read transaction: holds the live table until it ends
        slow.execute("SELECT set_config('search_path', 'vault_default, public', false)")
        assert slow.execute("SELECT count(*) FROM vectors").fetchone()[0] == OLD_NOTES
        writing = threading.Thread(target=write)
        writing.start()
        try:
            seen_waiting = False
            for _ in range(WAIT_SECONDS * 20):  # until the writer is seen asking for the swap's lock
                if _writer_waits_for_a_lock(pg_url) or not writing.is_alive():
                    seen_waiting = writing.is_alive()
                    break
                threading.Event().wait(0.05)
            assert seen_waiting, errors or "the writer never asked for the swap's lock"
            searching = threading.Thread(target=lambda: found.extend(paths(reader.nearest(old_vectors[3], 1))))
            searching.start()
            searching.join(WAIT_SECONDS)
            assert not searching.is_alive(), "a search queued behind the swap waiting on a slow reader"
            assert writing.is_alive()  # still waiting for the slow reader, which is not done
        finally:
            slow.rollback()
        writing.join(WAIT_SECONDS)
    assert not errors, errors
    assert found == ["old/3.md"]
    assert reader.nearest(new_vectors[7], 1)[0].note_path == "new/7.md"


def test_a_reader_that_never_lets_go_fails_the_rebuild_with_index_busy_and_changes_nothing(
    make_store, pg_url: str, monkeypatch
) -> None:
    """Past its tries the swap gives up: IndexBusy naming the cause, and the vault is as it was."""
    monkeypatch.setattr(pg, "SWAP_LOCK_TRIES", 2)
    writer, reader = make_store(), make_store()
    old_vectors = _unit_rows(OLD_NOTES, DIM, seed=1)
    old = _notes("old", "heron", old_vectors)
    writer.apply(IndexChange(upserts=old.upserts, vectors=old.vectors, model=(MODEL, DIM)))
    before = reader.stats()
    with psycopg.connect(pg_url) as slow:
        slow.execute("SELECT set_config('search_path', 'vault_default, public', false)")
        slow.execute("SELECT count(*) FROM vectors").fetchone()  # holds the table until rollback
        with pytest.raises(IndexBusy, match="kept this vault's vectors table open"):
            writer.apply(_rebuild(old, _unit_rows(NEW_NOTES, DIM, seed=2)))
        slow.rollback()
    after = reader.stats()
    assert (after.notes, after.vectors, after.extra["generation"]) == (
        before.notes,
        before.vectors,
        before.extra["generation"],
    )
    assert reader.nearest(old_vectors[3], 1)[0].note_path == "old/3.md"
    with reader._connection() as conn:
        assert conn.execute("SELECT to_regclass('vectors_next')").fetchone()[0] is None
