"""The shared Store contract (``store_contract.py``) against an in-memory SqliteStore.

The same cases run against PostgreSQL in ``test_store_postgres.py``; a failure
here and not there (or the reverse) is a behaviour drift between the backends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qmdr.store.sqlite import SqliteStore
from tests.qmdr import store_contract


@pytest.fixture
def make_store() -> Iterator[store_contract.StoreFactory]:
    opened: list[SqliteStore] = []

    def factory() -> SqliteStore:
        store = SqliteStore(memory=True)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.mark.parametrize("case", store_contract.CASES, ids=store_contract.case_id)
def test_store_contract(case, make_store) -> None:
    case(make_store)
