"""The shared Store contract (``store_contract.py``) against SqliteStore: memory, file, and vec0 search,
and a warmed in-memory store, whose keyword searches are ranked by the in-memory keyword index."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmdr.store.sqlite import SqliteStore
from tests.qmdr import store_contract


@pytest.fixture(params=["memory", "file", "vec0", "memory-warmed"])
def make_store(request, tmp_path: Path) -> Iterator[store_contract.StoreFactory]:
    numbers = itertools.count()

    def open_one() -> SqliteStore:
        if request.param == "file":
            return SqliteStore(tmp_path / f"index-{next(numbers)}.sqlite")
        store = SqliteStore(memory=True, vector_search="vec0" if request.param == "vec0" else "memory")
        if request.param == "memory-warmed":
            store.warm()  # from now on each keyword search of a new state builds the index first
        return store

    with store_contract.closing_every_store(open_one) as factory:
        yield factory


@pytest.mark.parametrize("case", store_contract.CASES, ids=store_contract.case_id)
def test_store_contract(case, make_store) -> None:
    case(make_store)
