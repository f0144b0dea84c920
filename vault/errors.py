"""Errors raised while reading a vault.

    IngestError                  anything that stops one file or one vault from being read
     ├── VaultNotFound           the vault root is missing or is not a folder
     ├── IgnoreFileError         ``.qmdrignore`` cannot be read or has an invalid pattern
     ├── PathOutsideVault        a path uses ``..``, is absolute, or a symlink leads out of the vault
     ├── NoteUnreadable          the operating system refused to read the file
     ├── NoteTooLarge            the file is over the size limit
     ├── BinaryNote              the file has a markdown name but binary content
     └── EmptyNote               the file holds nothing but whitespace

``vault`` never imports ``qmdr``, so ``IngestError`` derives from ``Exception``
here; the API layer maps the whole tree to HTTP status codes in one place.

Per-file problems met while *indexing* (too large, binary, empty, unreadable)
are not raised to the caller: ``read_note`` and ``scan_vault`` turn them into
``Skipped`` records whose reason is the exception's message, so the wording of
a skip reason lives in exactly one place, here.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class: a vault, or a file in it, could not be read."""


class VaultNotFound(IngestError):
    """The vault root does not exist or is not a folder."""

    def __init__(self, root: str) -> None:
        super().__init__(f"vault folder not found: {root!r}; check the configured vault path")
        self.root = root


class IgnoreFileError(IngestError):
    """``.qmdrignore`` exists but cannot be used.

    Raised rather than skipped: indexing without the user's ignore rules could
    put private notes into the index.
    """


class PathOutsideVault(IngestError):
    """A note path would read or write outside the vault folder."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"path {path!r} is outside the vault: {why}; use a path relative to the vault root")
        self.path = path
        self.why = why


class NoteUnreadable(IngestError):
    """The operating system would not let us read the file (vanished, permissions, not a file)."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"unreadable: {why}")
        self.path = path


class NoteTooLarge(IngestError):
    """The file is bigger than the configured limit; raise the limit to index it."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(f"too large: {size} bytes is over the {limit}-byte limit")
        self.path = path
        self.size = size
        self.limit = limit


class BinaryNote(IngestError):
    """The file is named like markdown but its bytes are not text."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"binary content: {why}")
        self.path = path


class EmptyNote(IngestError):
    """The file has no text at all (empty or whitespace only)."""

    def __init__(self, path: str) -> None:
        super().__init__("empty: the file holds no text")
        self.path = path
