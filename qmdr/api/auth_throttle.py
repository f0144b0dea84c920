"""Slow down guessing of QMDR_API_TOKEN: per-client lockouts after repeated wrong tokens.

The token is compared in constant time, so timing tells a guesser nothing,
but nothing stopped a script from trying tokens as fast as the server answers.
After ``free_failures`` wrong tokens from one client address within
``window_s``, that client is refused with 429 and ``Retry-After`` for a
lockout that doubles with each further failure, up to ``max_lockout_s``.
During a lockout no token is checked, so a guess cannot succeed in it.
A correct token clears the client's record.

Only wrong credentials count: a request without any (a health probe, a
browser before login) is a plain 401 and costs nothing. Records live in memory
per process, bounded by ``max_clients`` (the oldest are dropped first), which
fits the single-process server. Behind a reverse proxy every client would
share the proxy's address: name the proxy in ``QMDR_TRUSTED_PROXIES`` and the
client address it reports is counted instead (no other peer's
``X-Forwarded-For`` is believed, so it cannot be rotated to dodge a lockout).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from qmdr.util.lru import LRUCache

DEFAULT_FREE_FAILURES = 10
DEFAULT_WINDOW_S = 15 * 60.0
FIRST_LOCKOUT_S = 1.0
DEFAULT_MAX_LOCKOUT_S = 300.0
DEFAULT_MAX_CLIENTS = 10_000


@dataclass(slots=True)
class _Record:
    failures: int
    last_failure: float
    locked_until: float


class AuthThrottle:
    """Failed-token bookkeeping per client address; thread-safe (sync routes run in a thread pool)."""

    def __init__(
        self,
        free_failures: int = DEFAULT_FREE_FAILURES,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        max_lockout_s: float = DEFAULT_MAX_LOCKOUT_S,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if free_failures < 1:
            raise ValueError("free_failures must be at least 1")
        self.free_failures = free_failures
        self.window_s = window_s
        self.max_lockout_s = max_lockout_s
        self._clock = clock
        self._records: LRUCache[str, _Record] = LRUCache(max_clients)  # the longest-quiet clients go first
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Whole seconds ``client`` must wait before its next token is checked; 0 when it may try now."""
        with self._lock:
            record = self._current(client)
            if record is None:
                return 0
            return max(0, math.ceil(record.locked_until - self._clock()))

    def failed(self, client: str) -> None:
        """Record a wrong token from ``client``; past the free failures, lock it out for longer each time."""
        now = self._clock()
        with self._lock:
            record = self._current(client) or _Record(0, now, now)
            record.failures += 1
            record.last_failure = now
            over = record.failures - self.free_failures
            if over > 0:
                record.locked_until = now + min(self.max_lockout_s, FIRST_LOCKOUT_S * 2 ** (over - 1))
            self._records.put(client, record)

    def succeeded(self, client: str) -> None:
        """A correct token: forget the client's failures."""
        with self._lock:
            self._records.pop(client)

    def _current(self, client: str) -> _Record | None:
        """The client's record, or None once it is older than the window and not locked out."""
        record = self._records.get(client)
        if record is None:
            return None
        now = self._clock()
        if now - record.last_failure > self.window_s and now >= record.locked_until:
            self._records.pop(client)
            return None
        return record
