"""The shared Store contract (``store_contract.py``) against SqliteStore: memory, file, and vec0 search."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmdr.store.sqlite import SqliteStore
from tests.qmdr import store_contract


@pytest.fixture(params=["memory", "file", "vec0"])
def make_store(request, tmp_path: Path) -> Iterator[store_contract.StoreFactory]:
    numbers = itertools.count()

    def open_one() -> SqliteStore:
        if request.param == "file":
            return SqliteStore(tmp_path / f"index-{next(numbers)}.sqlite")
        return SqliteStore(memory=True, vector_search="memory" if request.param == "memory" else "vec0")

    with store_contract.closing_every_store(open_one) as factory:
        yield factory


@pytest.mark.parametrize("case", store_contract.CASES, ids=store_contract.case_id)
def test_store_contract(case, make_store) -> None:
    case(make_store)
