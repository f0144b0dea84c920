"""Fixtures for the qmdr tests: real SQLite stores (memory and file), a deterministic embedder, a vault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qmdr.store.sqlite import SqliteStore
from tests.qmdr.embedders import HashEmbedder


@pytest.fixture
def fresh_store() -> Iterator[SqliteStore]:
    """A real in-memory SQLite index with FTS5 and sqlite-vec, empty."""
    store = SqliteStore(memory=True)
    yield store
    store.close()


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A real on-disk (WAL) SQLite index in the test's temporary folder."""
    store = SqliteStore(tmp_path / "index.sqlite")
    yield store
    store.close()


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


VAULT_NOTES = {
    "projects/uploads.md": """---
title: Upload pipeline
tags: [project, backend]
---
# Upload pipeline

## Retries
Failed uploads are retried with exponential backoff, starting at half a second.

## Storage
Files land in the object store under a content hash.
""",
    "projects/search.md": """---
tags: [project]
---
# Search design

Hybrid search fuses BM25 keyword ranks with vector similarity using reciprocal rank fusion.
""",
    "journal/2024-05-01.md": """# May first

Went hiking near the lake; saw a heron and two falcons.
""",
    "recipes/bread.md": """---
tags: [cooking]
---
# Sourdough bread

Feed the starter the night before. Bake at 250 degrees with steam.
""",
}


def write_vault(root: Path, notes: dict[str, str]) -> Path:
    for rel, text in notes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    """A small markdown vault: four notes in three folders, with frontmatter tags and headings."""
    return write_vault(tmp_path / "vault", VAULT_NOTES)
