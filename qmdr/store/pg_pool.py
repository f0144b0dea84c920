"""One connection pool per PostgreSQL server for the whole process, shared by every vault.

Why shared: every vault is a schema of one database (``qmdr.store.migrations.postgres``),
and a server allows ~100 connections in all. A pool per vault would hold
``vaults x pool size`` connections (20 vaults x 8 = 160: past the limit), while
the work a process can do at once is bounded by its threads, not by its vaults.
So stores borrow from one pool per URL, counted: the last store to close closes it.

A borrowed connection may have served another vault: ``PostgresStore`` points its
``search_path`` at its own schema when it differs (``SharedPool.search_path_of``
remembers what each connection was last set to, so the common case costs nothing).
Each checkout is checked with an empty query first (``ConnectionPool.check_connection``):
after the database restarts, a stale connection is replaced instead of failing a search.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

#: a request waits at most this long for a connection before the store reports the database
#: unavailable (HTTP 503 with Retry-After): while the server is down, new connections cannot be
#: made, and a search should say so in seconds rather than hang for the pool's default 30 s
POOL_TIMEOUT_SECONDS = 5.0
#: a new connection gives up after this many seconds (libpq ``connect_timeout``; an integer)
CONNECT_TIMEOUT_SECONDS = 5


@dataclass(eq=False)
class SharedPool:
    """A counted ``ConnectionPool`` plus the ``search_path`` each of its connections holds."""

    pool: ConnectionPool
    users: int = 0
    search_paths: weakref.WeakKeyDictionary[psycopg.Connection, str] = field(default_factory=weakref.WeakKeyDictionary)

    def search_path_of(self, conn: psycopg.Connection) -> str | None:
        return self.search_paths.get(conn)

    def remember_search_path(self, conn: psycopg.Connection, search_path: str) -> None:
        self.search_paths[conn] = search_path


_pools: dict[str, SharedPool] = {}
_pools_lock = threading.Lock()


def acquire_pool(url: str, max_size: int) -> SharedPool:
    """The process's pool for ``url``, holding at most the largest ``max_size`` asked for; release it when done."""
    with _pools_lock:
        shared = _pools.get(url)
        if shared is None or shared.pool.closed:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max_size,
                # Autocommit: reads are single statements, writes open an explicit transaction,
                # so no connection is ever returned to the pool mid-transaction.
                kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
                configure=register_vector,  # callers migrate (creating the extension) first
                check=ConnectionPool.check_connection,
                timeout=POOL_TIMEOUT_SECONDS,
                open=False,
                name="qmdr-store",
            )
            pool.open(wait=False)
            shared = _pools[url] = SharedPool(pool)
        elif max_size > shared.pool.max_size:  # a later, bigger user (the registry opens with few)
            shared.pool.resize(shared.pool.min_size, max_size)
        shared.users += 1
        return shared


def release_pool(url: str, shared: SharedPool) -> None:
    """One user fewer; the last one closes the pool."""
    with _pools_lock:
        shared.users -= 1
        if shared.users > 0:
            return
        if _pools.get(url) is shared:
            del _pools[url]
    shared.pool.close()
