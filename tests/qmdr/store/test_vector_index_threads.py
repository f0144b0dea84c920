"""A query's matrix-vector product runs on one BLAS thread, whatever BLAS is configured for."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

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
    index = VectorIndex.build(model=("test", 8), generation=1,
                              chunks=[(i, f"n{i % 5}.md", f"h{i}") for i in range(40)],
                              note_tags={}, fetch_vectors=lambda hashes: {h: vectors[h] for h in hashes})
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
    expected = sorted(range(40), key=lambda i: -float(np.asarray(index.matrix)[index.row_of[f"h{i}"]] @ query))[:5]
    assert [chunk for chunk, _ in unfiltered] == expected


def test_large_products_are_left_to_blas_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from qmdr.store import vector_index

    monkeypatch.setattr(vector_index, "SINGLE_THREAD_MAX_ROWS", 30)  # the 40-row matrix counts as large
    index = small_index()
    RecordingMatrix.seen.clear()
    with threadpool_limits(limits=2, user_api="blas"):
        if blas_threads() != {2}:
            pytest.skip("this BLAS cannot run two threads")
        index.search(np.ones(8, np.float32), 5)  # the whole matrix: 40 rows, left alone
        index.search(np.ones(8, np.float32), 3, Filters(path_prefix="n1"))  # 8 gathered rows: held
    assert RecordingMatrix.seen == [{2}, {1}]
