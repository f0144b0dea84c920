"""Readers never wait for writers: reader connections, the pinned vector view and its atomic swap."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import apsw
import numpy as np
import pytest

from qmdr.store.base import IndexChange
from qmdr.store.sqlite import SqliteStore
from qmdr.store.sqlite_readers import ReaderPool
from tests.qmdr.store_contract import DIM, MODEL, axis, make_note, paths

#: a held write or build gives up after this long, so a regression fails instead of hanging the run
HOLD_LIMIT_S = 30


class Gate:
    """Holds whoever calls ``wait_here`` until ``release``; ``reached`` says someone is held."""

    def __init__(self) -> None:
        self.reached, self.released = threading.Event(), threading.Event()

    def wait_here(self) -> None:
        self.reached.set()
        assert self.released.wait(HOLD_LIMIT_S), "the test never released the gate"

    def release(self) -> None:
        self.released.set()


class GatedChunks(list):
    """A note's chunk list whose first iteration, inside ``apply``'s write transaction, waits at a gate."""

    def __init__(self, chunks: list, gate: Gate) -> None:
        super().__init__(chunks)
        self.gate = gate

    def __iter__(self) -> Iterator:
        self.gate.wait_here()
        return super().__iter__()


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def indexed(path: Path, notes: dict[str, tuple[str, np.ndarray]], **options: object) -> SqliteStore:
    store = SqliteStore(path, **options)  # type: ignore[arg-type]
    store.set_embedding_model(MODEL, DIM)
    store.apply(change_for(notes))
    return store


def change_for(
    notes: dict[str, tuple[str, np.ndarray]], *, rebuild: bool = False, gate: Gate | None = None
) -> IndexChange:
    """Every note as one chunk with its vector; ``rebuild`` replaces every stored vector, like ``--rebuild``."""
    upserts, vectors = [], {}
    for note_path, (text, vector) in notes.items():
        note, chunks = make_note(note_path, [text], version=text)
        upserts.append((note, GatedChunks(chunks, gate) if gate is not None and not upserts else chunks))
        vectors[chunks[0].hash] = vector
    return IndexChange(upserts=upserts, vectors=vectors, model=(MODEL, DIM), replace_vectors=rebuild)


# --- the reader pool ----------------------------------------------------------------------------


def test_reader_pool_lends_at_most_its_size_and_reuses_given_back_connections():
    opened: list[apsw.Connection] = []

    def connect() -> apsw.Connection:
        opened.append(apsw.Connection(":memory:"))
        return opened[-1]

    pool = ReaderPool(connect, size=2)
    first, second = pool.take(), pool.take()
    waiter_got: list[apsw.Connection] = []
    waiter, _ = in_thread(lambda: waiter_got.append(pool.take()))
    first.execute("BEGIN")
    pool.give(first)  # the waiter gets it back, its read transaction ended
    waiter.join(HOLD_LIMIT_S)
    assert waiter_got == [first] and not first.in_transaction and len(opened) == 2
    pool.give(second)
    pool.give(waiter_got[0])
    pool.close()
    with pytest.raises(apsw.ConnectionClosedError):
        pool.take()
    with pytest.raises(ValueError):
        ReaderPool(connect, size=0)


# --- searches during a write transaction -------------------------------------------------------


def test_searches_reads_and_stats_answer_while_a_write_transaction_is_open(tmp_path):
    store = indexed(tmp_path / "index.sqlite", {"a.md": ("patient aardvark", axis(0))})
    store.warm()
    gate = Gate()
    change = change_for(
        {"a.md": ("restless heron", axis(1)), "b.md": ("quiet otter", axis(2))}, rebuild=True, gate=gate
    )
    writer, errors = in_thread(lambda: store.apply(change))
    assert gate.reached.wait(HOLD_LIMIT_S)  # the writer is inside its transaction, holding the write lock
    # the last committed state, read on reader connections: none of these waits for the writer
    assert paths(store.keyword("aardvark", 3)) == ["a.md"]
    assert [hit.text for hit in store.nearest(axis(0), 3)] == ["patient aardvark"]
    assert store.stats().notes == 1 and store.get_note("a.md")["chunks"][0]["text"] == "patient aardvark"
    assert store.note_hashes().keys() == {"a.md"}
    assert writer.is_alive()
    gate.release()
    writer.join(HOLD_LIMIT_S)
    assert errors == []
    assert [hit.text for hit in store.nearest(axis(1), 1)] == ["restless heron"]  # the writer's own commit
    assert paths(store.keyword("otter", 3)) == ["b.md"]
    store.close()


def test_between_a_commit_and_the_swap_searches_answer_from_the_previous_committed_state(tmp_path):
    build_gate = Gate()
    armed = threading.Event()

    def hold_the_writers_build(chunks: int) -> None:
        if armed.is_set():
            build_gate.wait_here()

    store = indexed(
        tmp_path / "index.sqlite", {"a.md": ("patient aardvark", axis(0))}, on_snapshot_build=hold_the_writers_build
    )
    store.warm()
    old_view = store._view
    armed.set()
    # a rebuild that gives the same chunk id to different text: the old snapshot's ids must not be read
    # against the new rows (that returned other chunks, or nothing, under the old score)
    rebuild = change_for({"a.md": ("restless heron", axis(1))}, rebuild=True)
    writer, errors = in_thread(lambda: store.apply(rebuild))
    assert build_gate.reached.wait(HOLD_LIMIT_S)  # committed; the writer is building the next view
    assert store.generation() > old_view.generation
    assert [(hit.text, round(hit.score, 3)) for hit in store.nearest(axis(0), 3)] == [("patient aardvark", 1.0)]
    assert paths(store.keyword("aardvark", 3)) == ["a.md"]  # keyword reads the same state as vectors
    assert store.keyword("heron", 3) == []
    assert store._view is old_view and writer.is_alive()
    build_gate.release()
    writer.join(HOLD_LIMIT_S)
    assert errors == [] and old_view.retired and store._view is not old_view
    assert [(hit.text, round(hit.score, 3)) for hit in store.nearest(axis(1), 3)] == [("restless heron", 1.0)]
    assert paths(store.keyword("heron", 3)) == ["a.md"]
    store.close()


def test_a_commit_by_another_store_is_picked_up_by_the_next_vector_search(tmp_path):
    path = tmp_path / "shared.sqlite"
    reader = indexed(path, {"a.md": ("patient aardvark", axis(0))})
    assert paths(reader.nearest(axis(0), 3)) == ["a.md"]
    writer = SqliteStore(path)
    writer.apply(change_for({"a.md": ("restless heron", axis(1))}, rebuild=True))
    assert [hit.text for hit in reader.nearest(axis(1), 1)] == ["restless heron"]
    assert paths(reader.keyword("heron", 3)) == ["a.md"]
    writer.close()
    reader.close()


# --- a bounded load: concurrent searches through repeated full rebuilds --------------------------

#: notes in the vault and full rebuilds run while searches go on; each rebuild's transaction and each
#: view swap is held until SEARCHES_PER_HOLD searches have finished inside it, so overlap is certain
NOTES = 60
REBUILDS = 3
SEARCHERS = 4
SEARCHES_PER_HOLD = 12


def corpus(version: int) -> dict[str, tuple[str, np.ndarray]]:
    """Note i talks about ``topic{i}``; its vector leans towards axis i % DIM, slightly per version."""
    rng = np.random.default_rng(version)
    notes = {}
    for i in range(NOTES):
        vector = axis(i % DIM) * 4 + rng.standard_normal(DIM).astype(np.float32) * 0.1
        notes[f"n{i:03d}.md"] = (
            f"topic{i} version{version} " + " ".join(f"filler{j}" for j in range(i % 5)),
            (vector / np.linalg.norm(vector)).astype(np.float32),
        )
    return notes


class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.changed = threading.Condition()

    def add(self) -> None:
        with self.changed:
            self.value += 1
            self.changed.notify_all()

    def wait_for(self, target: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.value >= target, HOLD_LIMIT_S), "searches stalled"


def test_concurrent_searches_through_full_rebuilds_never_fail_and_never_come_back_empty(tmp_path):
    done = Counter()
    writing = threading.Event()

    def hold_for_searches() -> None:
        """Called inside the writer's transaction and before its view swap: let searches run there."""
        done.wait_for(done.value + SEARCHES_PER_HOLD)

    def on_build(chunks: int) -> None:
        if writing.is_set():
            hold_for_searches()

    store = indexed(tmp_path / "index.sqlite", corpus(0), on_snapshot_build=on_build)
    store.warm()
    failures: list[str] = []
    stop = threading.Event()

    def search(worker: int) -> None:
        i = worker
        while not stop.is_set():
            topic = i % NOTES
            try:
                keyword = store.keyword(f"topic{topic}", 5)
                vector = store.nearest(corpus(0)[f"n{topic:03d}.md"][1], 5)
                if not keyword or not vector:
                    failures.append(f"empty answer for topic{topic}: {len(keyword)} keyword, {len(vector)} vector")
                elif keyword[0].note_path != f"n{topic:03d}.md" or f"topic{topic} " not in keyword[0].text:
                    failures.append(f"keyword topic{topic} found {keyword[0].note_path}: {keyword[0].text!r}")
                elif not all(hit.text.startswith(f"topic{int(hit.note_path[1:4])} ") for hit in vector):
                    failures.append(f"a vector hit's text belongs to another note: {vector}")
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(f"{type(exc).__name__}: {exc}")
            done.add()
            i += SEARCHERS

    searchers = [in_thread(lambda w=w: search(w))[0] for w in range(SEARCHERS)]
    try:
        for round_ in range(1, REBUILDS + 1):
            gate = Gate()
            change = change_for(corpus(round_), rebuild=True, gate=gate)
            held, errors = in_thread(lambda change=change: store.apply(change))
            assert gate.reached.wait(HOLD_LIMIT_S)
            hold_for_searches()  # searches answered while the rebuild's transaction was open
            writing.set()
            gate.release()
            held.join(HOLD_LIMIT_S)
            writing.clear()
            assert errors == [] and not held.is_alive()
            assert f"version{round_}" in store.keyword("topic0", 1)[0].text  # the writer reads its own rebuild
    finally:
        stop.set()
        for thread in searchers:
            thread.join(HOLD_LIMIT_S)
        store.close()
    assert failures == []
    assert done.value >= 2 * REBUILDS * SEARCHES_PER_HOLD
