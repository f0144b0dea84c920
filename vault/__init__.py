"""Read a folder of markdown notes: scan it, parse each note, cut notes into chunks.

Pure and synchronous: no database, no network, and no imports from ``qmdr`` or
``providers``. The indexer calls ``scan_vault`` -> ``read_note`` -> ``chunk_note``
and gets plain data (``Note``, ``Chunk``, ``Skipped``) back.

The names below are imported on first use (PEP 562), not when the package is:
a search needs only ``vault.chunk`` and ``vault.model`` (snippets, stored notes),
and importing the parser and scanner with them (PyYAML, pathspec) cost every
``qmdr search`` call ~30 ms.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vault.chunk import (
        CHUNKER_VERSION,
        ChunkingOptions,
        approx_token_count,
        chunk_hash,
        chunk_note,
        split_context_line,
    )
    from vault.errors import (
        BinaryNote,
        EmptyNote,
        IgnoreFileError,
        IngestError,
        NoteTooLarge,
        NoteUnreadable,
        PathOutsideVault,
        VaultNotFound,
    )
    from vault.model import Chunk, Note, Skipped
    from vault.parse import parse_note, read_note
    from vault.scan import MAX_NOTE_BYTES, ScanResult, safe_note_path, scan_vault

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "CHUNKER_VERSION": "vault.chunk",
    "ChunkingOptions": "vault.chunk",
    "approx_token_count": "vault.chunk",
    "chunk_hash": "vault.chunk",
    "chunk_note": "vault.chunk",
    "split_context_line": "vault.chunk",
    "BinaryNote": "vault.errors",
    "EmptyNote": "vault.errors",
    "IgnoreFileError": "vault.errors",
    "IngestError": "vault.errors",
    "NoteTooLarge": "vault.errors",
    "NoteUnreadable": "vault.errors",
    "PathOutsideVault": "vault.errors",
    "VaultNotFound": "vault.errors",
    "Chunk": "vault.model",
    "Note": "vault.model",
    "Skipped": "vault.model",
    "parse_note": "vault.parse",
    "read_note": "vault.parse",
    "MAX_NOTE_BYTES": "vault.scan",
    "ScanResult": "vault.scan",
    "safe_note_path": "vault.scan",
    "scan_vault": "vault.scan",
}

__all__ = [
    "CHUNKER_VERSION",
    "MAX_NOTE_BYTES",
    "BinaryNote",
    "Chunk",
    "ChunkingOptions",
    "EmptyNote",
    "IgnoreFileError",
    "IngestError",
    "Note",
    "NoteTooLarge",
    "NoteUnreadable",
    "PathOutsideVault",
    "ScanResult",
    "Skipped",
    "VaultNotFound",
    "approx_token_count",
    "chunk_hash",
    "chunk_note",
    "parse_note",
    "read_note",
    "safe_note_path",
    "scan_vault",
    "split_context_line",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vault' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
