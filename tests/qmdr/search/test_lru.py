"""The small LRU map shared by the query-embedding cache, the rerank grade cache and the auth throttle."""

import pytest

from qmdr.util.lru import LRUCache


def test_least_recently_used_goes_first_and_pop_removes():
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.pop("a") == 1 and cache.pop("a") is None
    assert len(cache) == 1 and (cache.hits, cache.misses) == (3, 0)


def test_zero_entries_disables_and_negative_is_refused():
    off: LRUCache[str, int] = LRUCache(0)
    off.put("a", 1)
    assert off.get("a") is None and len(off) == 0
    with pytest.raises(ValueError):
        LRUCache(-1)
