"""The shared Store contract (``store_contract.py``) against SqliteStore: memory, file, and vec0 search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qmdr.store.sqlite import SqliteStore
from tests.qmdr import store_contract


@pytest.fixture(params=["memory", "file", "vec0"])
def make_store(request, tmp_path: Path) -> Iterator[store_contract.StoreFactory]:
    opened: list[SqliteStore] = []

    def factory() -> SqliteStore:
        if request.param == "file":
            store = SqliteStore(tmp_path / f"index-{len(opened)}.sqlite")
        else:
            store = SqliteStore(memory=True, vector_search="memory" if request.param == "memory" else "vec0")
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.mark.parametrize("case", store_contract.CASES, ids=store_contract.case_id)
def test_store_contract(case, make_store) -> None:
    case(make_store)
