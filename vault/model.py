"""Plain data that flows out of the vault package: notes and their chunks.

Everything here is immutable and free of I/O so the indexer, the store and the
tests can pass it around without caring where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Chunk:
    """One searchable piece of a note.

    ``hash`` is the chunk's identity: a digest of its text *and* the chunking
    parameters, so identical text is embedded once however often it moves.
    """

    note_path: str  # relative to the vault root, POSIX separators
    ordinal: int  # position of the chunk inside its note, from 0
    heading_trail: tuple[str, ...]  # e.g. ("Retries", "Backoff")
    start_line: int  # 1-based, inclusive, in the original file
    end_line: int  # 1-based, inclusive
    text: str  # what is embedded and keyword-indexed (heading trail included)
    hash: str  # hex sha256 of text + chunker parameters


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed markdown note, keyed by its path relative to the vault."""

    path: str
    title: str
    tags: tuple[str, ...]
    frontmatter: dict[str, Any]
    body: str
    content_hash: str  # sha256 of the raw file bytes: an unchanged note is skipped cheaply
    mtime: float
    size: int
    links: tuple[str, ...] = ()  # [[wiki-link]] and relative markdown link targets
    dates: dict[str, str] = field(default_factory=dict)  # ISO strings: created, updated, date
    warnings: tuple[str, ...] = ()  # non-fatal problems met while reading (bad UTF-8, broken frontmatter)
    body_line: int = 1  # 1-based file line where ``body`` starts (after frontmatter), for chunk line numbers


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file the scan saw but would not index, and why (shown in the index summary)."""

    path: str
    reason: str
