"""The persisted vector snapshot: mapped at a restart, checked against its index, written atomically."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qmdr.store import sqlite as sqlite_store
from qmdr.store import vector_file
from qmdr.store.base import IndexChange
from qmdr.store.sqlite import SqliteStore
from qmdr.store.vector_file import load_snapshot, read_header, snapshot_file, write_snapshot
from qmdr.store.vector_index import VectorIndex
from tests.qmdr.store_contract import DIM, MODEL, make_note, paths

NOTES = 40


def vector(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def note_change(indexes: range, *, rebuild: bool = False, word: str = "topic") -> IndexChange:
    upserts, vectors = [], {}
    for i in indexes:
        note, chunks = make_note(f"n{i:03d}.md", [f"{word}{i} text"], tags=("even",) if i % 2 == 0 else ())
        upserts.append((note, chunks))
        vectors[chunks[0].hash] = vector(i)
    return IndexChange(upserts=upserts, vectors=vectors, model=(MODEL, DIM), replace_vectors=rebuild)


@pytest.fixture
def small_persist(monkeypatch: pytest.MonkeyPatch) -> None:
    """Persist snapshots of a test's size (the real threshold is 20,000 texts)."""
    monkeypatch.setattr(sqlite_store, "PERSIST_MIN_ROWS", 10)


class FetchLog:
    """Records which hashes a store reads back from SQLite to build a snapshot."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashes: list[str] = []
        original = SqliteStore._fetch_vectors

        def recording(conn, model, hashes):  # type: ignore[no-untyped-def]
            self.hashes.extend(hashes)
            return original(conn, model, hashes)

        monkeypatch.setattr(SqliteStore, "_fetch_vectors", staticmethod(recording))


def indexed(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    store.apply(note_change(range(NOTES)))
    return store


def test_a_large_snapshot_is_saved_and_a_restart_maps_it_without_reading_vectors(tmp_path, small_persist, monkeypatch):
    path = tmp_path / "index.sqlite"
    store = indexed(path)
    before = [(h.note_path, round(h.score, 5)) for h in store.nearest(vector(3), 5)]
    store.close()
    header = read_header(snapshot_file(path))
    assert header is not None and (header["rows"], header["chunks"], header["model_id"]) == (NOTES, NOTES, MODEL)

    fetched = FetchLog(monkeypatch)
    reopened = SqliteStore(path)
    assert [(h.note_path, round(h.score, 5)) for h in reopened.nearest(vector(3), 5)] == before
    assert fetched.hashes == []  # every vector came from the mapped file
    assert isinstance(reopened._snapshot.matrix, np.memmap)
    assert paths(reopened.nearest(vector(4), 3, sqlite_store.Filters(tags=("even",))))[0] == "n004.md"
    reopened.close()


def test_a_stale_file_still_gives_its_rows_and_only_newer_vectors_are_read(tmp_path, small_persist, monkeypatch):
    path = tmp_path / "index.sqlite"
    indexed(path).close()
    SqliteStore(path).warm()  # saved at this generation (a store that is never closed: as a killed server)
    writer = SqliteStore(path)  # another process adds two notes and searches nothing: the file is not updated
    writer.apply(note_change(range(NOTES, NOTES + 2), word="later"))
    writer.close()
    fetched = FetchLog(monkeypatch)
    reopened = SqliteStore(path)
    assert paths(reopened.nearest(vector(NOTES + 1), 1)) == [f"n{NOTES + 1:03d}.md"]
    assert len(fetched.hashes) == 2  # the two new texts; the other 40 came from the file
    snapshot = reopened._snapshot
    assert isinstance(snapshot.matrix, np.memmap) and snapshot.extra.shape[0] == 2 and len(snapshot) == NOTES + 2
    reopened.close()


def test_a_file_of_another_index_or_a_damaged_one_is_ignored(tmp_path, small_persist, monkeypatch):
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    with indexed(first) as store:
        store.warm()
    other = SqliteStore(second)
    other.apply(note_change(range(NOTES), word="other"))  # same vectors, other text; never searched: no file
    other.close()
    shutil.copy(snapshot_file(first), snapshot_file(second))  # e.g. a stray copy from another vault
    fetched = FetchLog(monkeypatch)
    with SqliteStore(second) as store:
        hit = store.nearest(vector(7), 1)[0]
        assert (hit.note_path, hit.text) == ("n007.md", "other7 text") and len(fetched.hashes) == NOTES
    # cut short: read from SQLite instead, and saved whole again
    data = snapshot_file(first).read_bytes()
    snapshot_file(first).write_bytes(data[: len(data) // 2])
    fetched.hashes.clear()
    with SqliteStore(first) as store:
        assert paths(store.nearest(vector(9), 1)) == ["n009.md"] and len(fetched.hashes) == NOTES
    assert read_header(snapshot_file(first))["rows"] == NOTES
    assert load_snapshot(snapshot_file(first), index_id="someone-else", model=(MODEL, DIM), epoch=0) is None


def test_a_rebuild_makes_the_old_file_useless_and_the_new_snapshot_replaces_it(tmp_path, small_persist, monkeypatch):
    path = tmp_path / "index.sqlite"
    store = indexed(path)
    store.warm()
    epoch_before = read_header(snapshot_file(path))["epoch"]
    store.apply(note_change(range(NOTES), rebuild=True, word="rebuilt"))
    assert store.nearest(vector(5), 1)[0].text == "rebuilt5 text"
    store.close()
    header = read_header(snapshot_file(path))
    assert header["epoch"] > epoch_before and header["chunks"] == NOTES
    fetched = FetchLog(monkeypatch)
    with SqliteStore(path) as reopened:
        assert reopened.nearest(vector(5), 1)[0].text == "rebuilt5 text" and fetched.hashes == []


def test_an_interrupted_write_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "index.sqlite.vectors"
    rows = np.stack([vector(i) for i in range(30)])
    first = VectorIndex.build(
        model=(MODEL, DIM),
        generation=1,
        chunks=[(i, "a.md", f"h{i}") for i in range(30)],
        note_tags={},
        fetch_vectors=lambda hs: {h: rows[int(h[1:])] for h in hs},
    )
    write_snapshot(target, first, index_id="abc", stamp="t1")
    calls = 0
    original = vector_file._write_all

    def dies_midway(out, part):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        original(out, part)

    monkeypatch.setattr(vector_file, "_write_all", dies_midway)
    second = VectorIndex.build(
        model=(MODEL, DIM),
        generation=2,
        chunks=[(1, "a.md", "h1")],
        note_tags={},
        fetch_vectors=lambda hs: {h: rows[int(h[1:])] for h in hs},
    )
    with pytest.raises(OSError, match="disk full"):
        write_snapshot(target, second, index_id="abc", stamp="t2")
    loaded, stamp = load_snapshot(target, index_id="abc", model=(MODEL, DIM), epoch=0)
    assert (loaded.generation, stamp, len(loaded)) == (1, "t1", 30)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind
    held = loaded.vectors_for([f"h{i}" for i in range(30)])
    np.testing.assert_array_equal(np.stack([held[f"h{i}"] for i in range(30)]), rows)


def test_building_on_a_mapped_snapshot_appends_rows_and_never_copies_the_base(tmp_path):
    target = tmp_path / "x.vectors"
    rows = np.stack([vector(i) for i in range(60)])

    def fetch(hashes):  # type: ignore[no-untyped-def]
        return ((h, rows[int(h[1:])].tobytes()) for h in hashes)  # blobs, as SQLite gives them

    chunks = [(i, f"n{i}.md", f"h{i}") for i in range(40)]
    write_snapshot(
        target,
        VectorIndex.build(model=(MODEL, DIM), generation=1, chunks=chunks, note_tags={}, fetch_vectors=fetch),
        index_id="i",
    )
    mapped, _ = load_snapshot(target, index_id="i", model=(MODEL, DIM), epoch=0)
    later = VectorIndex.build(
        model=(MODEL, DIM),
        generation=2,
        chunks=[*chunks[5:], (99, "new.md", "h50")],
        note_tags={},
        fetch_vectors=fetch,
        previous=mapped,
    )
    assert later.matrix is mapped.matrix and later.extra.shape[0] == 1
    assert later.search(rows[50], 1)[0][0] == 99 and later.search(rows[7], 1)[0][0] == 7
    assert later.vectors_for(["h50", "h7", "h0", "h59"]).keys() == {"h50", "h7", "h0"}  # h0: garbage, still held
    # enough garbage compacts into one new base holding only rows in use
    compacted = VectorIndex.build(
        model=(MODEL, DIM),
        generation=3,
        note_tags={},
        fetch_vectors=fetch,
        chunks=[(99, "new.md", "h50"), (7, "n7.md", "h7")],
        previous=later,
    )
    assert compacted.rows == 2 and compacted.extra.shape[0] == 0
    assert [cid for cid, _ in compacted.search(rows[7], 2)] == [7, 99]


def test_writes_on_a_filled_index_store_each_text_once_and_restore_returning_ones(tmp_path):
    with SqliteStore(tmp_path / "index.sqlite") as store:
        store.apply(note_change(range(5)))
        note, chunks = make_note("copy.md", ["topic1 text"])  # a text already stored, under another note
        store.apply(IndexChange(upserts=[(note, chunks)], vectors={chunks[0].hash: vector(1)}, model=(MODEL, DIM)))
        assert store.stats().vectors == 5 and store.hashes_without_vector() == set()
        store.apply(IndexChange(deletes=["copy.md", "n001.md"]))  # its last chunks gone: the vector goes
        assert store.stats().vectors == 4
        back, back_chunks = make_note("back.md", ["topic1 text"])  # no vector given: from the cache
        store.apply(IndexChange(upserts=[(back, back_chunks)], model=(MODEL, DIM)))
        assert store.stats().vectors == 5 and paths(store.nearest(vector(1), 1)) == ["back.md"]
