"""Read a folder of markdown notes: scan it, parse each note, cut notes into chunks.

Pure and synchronous: no database, no network, and no imports from ``qmdr`` or
``providers``. The indexer calls ``scan_vault`` -> ``read_note`` -> ``chunk_note``
and gets plain data (``Note``, ``Chunk``, ``Skipped``) back.
"""

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
