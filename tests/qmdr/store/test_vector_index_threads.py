"""A query's matrix-vector product runs on one BLAS thread, whatever BLAS is configured for."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from qmdr.store import vector_index
from qmdr.store.base import Filters
from qmdr.store.vector_index import VectorIndex


def blas_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


class RecordingMatrix(np.ndarray):
    """A float32 matrix that notes the BLAS thread count each time it is multiplied."""

    seen: list[set[int]] = []

    def __matmul__(self, other):  # type: ignore[no-untyped-def]
        RecordingMatrix.seen.append(blas_threads())
        return np.asarray(self) @ other


def small_index() -> VectorIndex:
    rng = np.random.default_rng(7)
    vectors = {f"h{i}": rng.standard_normal(8).astype(np.float32) for i in range(40)}
    index = VectorIndex.build(
        model=("test", 8),
        generation=1,
        chunks=[(i, f"n{i % 5}.md", f"h{i}") for i in range(40)],
        note_tags={},
        fetch_vectors=lambda hashes: {h: vectors[h] for h in hashes},
    )
    index.matrix = index.matrix.view(RecordingMatrix)
    return index


def test_query_products_hold_blas_to_one_thread_and_restore_it() -> None:
    index = small_index()
    query = np.ones(8, np.float32)
    RecordingMatrix.seen.clear()
    with threadpool_limits(limits=2, user_api="blas"):  # as numpy starts on a two-core machine
        if blas_threads() != {2}:
            pytest.skip("this BLAS cannot run two threads: nothing to hold back")
        unfiltered = index.search(query, 5)
        filtered = index.search(query, 3, Filters(path_prefix="n1"))
        assert blas_threads() == {2}  # restored for the rest of the process
    assert RecordingMatrix.seen == [{1}, {1}]
    assert len(unfiltered) == 5 and len(filtered) == 3
    expected = sorted(range(40), key=lambda i: -float(index.vectors_for([f"h{i}"])[f"h{i}"] @ query))[:5]
    assert [chunk for chunk, _ in unfiltered] == expected


def test_large_products_are_left_to_blas_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vector_index, "SINGLE_THREAD_MAX_ROWS", 30)  # the 40-row matrix counts as large
    index = small_index()
    RecordingMatrix.seen.clear()
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("this BLAS cannot run two threads")
        index.search(np.ones(8, np.float32), 5)  # the whole matrix: 40 rows, left alone
        index.search(np.ones(8, np.float32), 3, Filters(path_prefix="n1"))  # 8 gathered rows: held
    assert RecordingMatrix.seen == [{2}, {1}]


class RecordingController:
    """Stands in for threadpoolctl's controller: notes each limit set and lifted, in order.

    (A thread other than the main one cannot read the process's BLAS thread count through threadpoolctl,
    though the limit it sets does apply, so overlapping holds are checked through what they ask for.)
    """

    def __init__(self) -> None:
        self.events: list[str] = []

    def limit(self, *, limits: int, user_api: str) -> RecordingController:
        self.events.append(f"set {user_api} {limits}")
        return self

    def restore_original_limits(self) -> None:
        self.events.append("restore")


def test_overlapping_holds_set_the_limit_once_and_lift_it_when_the_last_leaves() -> None:
    # "early" holds when "late" starts, and leaves first. A limit per search would lift the hold under
    # "late" and, as "late" noted one thread as the original, leave BLAS on one thread for good.
    controller = RecordingController()
    shared = vector_index._SharedBlasHold(lambda: controller)
    early_in, early_out, late_in = threading.Event(), threading.Event(), threading.Event()

    def early() -> None:
        with shared.hold(1):
            early_in.set()
            late_in.wait(timeout=30)
        early_out.set()

    def late() -> None:
        with shared.hold(1):
            late_in.set()
            early_out.wait(timeout=30)
            controller.events.append("late still inside")

    threads = [threading.Thread(target=early), threading.Thread(target=late)]
    threads[0].start()
    assert early_in.wait(timeout=30)
    threads[1].start()
    for thread in threads:
        thread.join(timeout=60)
    assert controller.events == ["set blas 1", "late still inside", "restore"]
