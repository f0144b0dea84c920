"""Errors raised by the qmdr service (store, indexing, search).

    QmdrError
    ├── InvalidQuery             the search request cannot be run as given (also a ValueError)
    ├── NotFound                 no such note, vault folder or resource (also a LookupError)
    ├── Conflict                 the request contradicts what the service holds (a name taken, a folder
    │                            that would empty a vault, a folder that belongs to no vault)
    └── StoreError               the index database refused or failed an operation
        ├── ModelMismatch        the index was built with another embedding model: ``qmdr index --rebuild``
        ├── IndexBusy            another writer holds the index (a reindex is already running)
        └── StoreUnavailable     the index database cannot be reached now: retry after ``retry_after`` s

``vault`` (``IngestError``) and ``providers`` (``ProviderError``) keep their own
trees because they never import ``qmdr``; the API layer maps all three to HTTP
status codes in one place (``qmdr/api/errors.py``). Messages say what to do next
and never contain a secret.
"""

from __future__ import annotations


class QmdrError(Exception):
    """Base of every error the qmdr service raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidQuery(QmdrError, ValueError):
    """The query is empty, too long, or asks for an unknown mode or an out-of-range ``k``."""


class NotFound(QmdrError, LookupError):
    """The note, vault folder or resource asked for does not exist."""


class Conflict(QmdrError):
    """The request is well formed but contradicts the current state; the message says how to proceed."""


class Forbidden(QmdrError):
    """The caller's token is valid but does not reach this: a vault outside its scope, or an admin-only route.

    ``vault`` names the vault refused (None for an admin-only route); the API adds it to the problem body.
    """

    def __init__(self, message: str, *, vault: str | None = None) -> None:
        super().__init__(message)
        self.vault = vault


class StoreError(QmdrError):
    """The index database refused or failed an operation."""


class ModelMismatch(StoreError):
    """The stored vectors were made by a different embedding model (or dimension).

    Mixing vectors of two models makes similarity meaningless, so the store refuses
    and the message tells the user how to rebuild.
    """

    def __init__(
        self, message: str, *, stored: tuple[str, int] | None = None, requested: tuple[str, int] | None = None
    ) -> None:
        super().__init__(message)
        self.stored = stored
        self.requested = requested


class IndexBusy(StoreError):
    """Another writer holds the index (another process, or a reindex already running)."""


class StoreUnavailable(StoreError):
    """The index database cannot be reached right now (PostgreSQL down or restarting).

    Nothing was changed: a write that meets this was rolled back. ``retry_after``
    (seconds) is a hint for clients (HTTP 503 with ``Retry-After``).
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
