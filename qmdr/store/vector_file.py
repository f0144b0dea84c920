"""A vector snapshot persisted beside its SQLite index, so a restart maps it instead of reading every vector.

Reading 1M vectors back out of SQLite took about a minute; mapping a file of
float32 rows takes milliseconds, and the pages come in as searches touch them
(from the OS page cache when the file was read recently), so a restarted
server searches at once and holds each vector once (no copy in Python objects).

Layout of ``<index>.vectors`` (little-endian; every section 64-byte aligned):

* ``MAGIC``, then the header length (8 bytes), then the header as JSON: the
  format, the index's ``index_id``, model, dimension, ``vector_epoch`` and
  ``generation`` the snapshot was built at, and ``[offset, count]`` of each
  section;
* ``matrix``: rows x dim float32, the vectors;
* ``keys``: a 16-byte text key per row (``vector_index.text_keys``);
* ``chunk_ids`` (int64), ``chunk_rows`` (int32), ``chunk_note`` (int32): the
  searchable chunks of that generation and the row and note of each;
* ``notes``: JSON ``[[path, [tag, ...]], ...]`` in note order.

Checked against the index when loaded: a file of another index (``index_id``,
which a recreated index file does not share), model or vector epoch is ignored;
one of an older generation still provides every row it holds (a row's vector
never changes within an epoch), so only newer rows are read from SQLite. Written
to a temporary file, flushed to disk and renamed over the old one: a crash
leaves the old file or the new one, never a torn one, and a snapshot mapped
from the old file keeps reading it after the rename.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from qmdr.store.vector_index import KEY_DTYPE, ROW_DTYPE, VectorIndex, shared_tag_sets

MAGIC = b"QMDRVEC1"
FORMAT = 1
ALIGN = 64
#: bytes written per ``write`` call: large enough to stream at disk speed, small enough to hold no copy
WRITE_CHUNK_BYTES = 16 << 20

SECTIONS = ("matrix", "keys", "chunk_ids", "chunk_rows", "chunk_note", "notes")


def snapshot_file(index_path: Path) -> Path:
    """Where the snapshot of the index at ``index_path`` is kept."""
    return Path(f"{index_path}.vectors")


def _aligned(offset: int) -> int:
    return (offset + ALIGN - 1) // ALIGN * ALIGN


def write_snapshot(path: Path, snapshot: VectorIndex, *, index_id: str, stamp: str = "") -> None:
    """Write ``snapshot`` to ``path`` atomically (temp file, fsync, rename).

    ``stamp`` is kept for the loader to compare with the index beside the
    generation (the store passes its ``last_reindex``): a restored backup that
    reached the same generation again is not mistaken for this state.
    """
    notes = json.dumps(
        [[p, sorted(t)] for p, t in zip(snapshot.note_paths, snapshot.note_tags, strict=True)], ensure_ascii=False
    ).encode()
    sizes = {
        "matrix": snapshot.rows * snapshot.dim * 4,
        "keys": snapshot.rows * KEY_DTYPE.itemsize,
        "chunk_ids": len(snapshot) * 8,
        "chunk_rows": len(snapshot) * 4,
        "chunk_note": len(snapshot) * 4,
        "notes": len(notes),
    }
    header: dict[str, Any] = {
        "format": FORMAT,
        "index_id": index_id,
        "model_id": snapshot.model[0],
        "dim": snapshot.dim,
        "epoch": snapshot.epoch,
        "generation": snapshot.generation,
        "rows": snapshot.rows,
        "chunks": len(snapshot),
        "stamp": stamp,
    }
    # the header's own size depends on the offsets it records: reserve a generous fixed block
    offset = _aligned(len(MAGIC) + 8 + 4096)
    sections: dict[str, list[int]] = {}
    for name in SECTIONS:
        sections[name] = [offset, sizes[name]]
        offset = _aligned(offset + sizes[name])
    header["sections"] = sections
    encoded = json.dumps(header).encode()
    if len(encoded) > 4096:  # noqa: PLR2004 (the reserved block above)
        raise ValueError("snapshot header too large")
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as out:
            out.write(MAGIC + len(encoded).to_bytes(8, "little") + encoded)
            arrays: dict[str, Any] = {
                "matrix": (snapshot.matrix, snapshot.extra),
                "keys": (snapshot.keys,),
                "chunk_ids": (snapshot.chunk_ids.astype(np.int64, copy=False),),
                "chunk_rows": (snapshot.chunk_rows.astype(ROW_DTYPE, copy=False),),
                "chunk_note": (snapshot.chunk_note.astype(np.int32, copy=False),),
                "notes": (notes,),
            }
            for name in SECTIONS:
                out.seek(sections[name][0])
                for part in arrays[name]:
                    _write_all(out, part)
            out.truncate(offset)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    with contextlib.suppress(OSError):  # the rename itself reaches the disk with its folder
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _write_all(out: Any, part: np.ndarray | bytes) -> None:
    """Write an array (in slices of ``WRITE_CHUNK_BYTES``, so a mapped matrix is streamed, not copied)."""
    if isinstance(part, bytes):
        out.write(part)
        return
    if part.size == 0:
        return
    row_bytes = max(part.nbytes // max(part.shape[0], 1), 1)
    step = max(WRITE_CHUNK_BYTES // row_bytes, 1)
    for start in range(0, part.shape[0], step):
        out.write(np.ascontiguousarray(part[start : start + step]).tobytes())


def read_header(path: Path) -> dict[str, Any] | None:
    """The header of the snapshot file at ``path``; None when absent or not one of ours."""
    try:
        with open(path, "rb") as source:
            head = source.read(len(MAGIC) + 8)
            if len(head) < len(MAGIC) + 8 or head[: len(MAGIC)] != MAGIC:
                return None
            header = json.loads(source.read(int.from_bytes(head[len(MAGIC) :], "little")))
    except (OSError, ValueError):
        return None
    return header if isinstance(header, dict) and header.get("format") == FORMAT else None


def load_snapshot(path: Path, *, index_id: str, model: tuple[str, int], epoch: int) -> tuple[VectorIndex, str] | None:
    """The snapshot at ``path`` (its matrix memory-mapped) and its stamp; None when absent, damaged or
    not for this index, model and epoch."""
    header = read_header(path)
    if header is None or (header["index_id"], header["model_id"], header["dim"], header["epoch"]) != (
        index_id,
        model[0],
        model[1],
        epoch,
    ):
        return None
    rows, chunks, sections = header["rows"], header["chunks"], header["sections"]
    try:
        if os.path.getsize(path) < max(offset + size for offset, size in sections.values()):
            return None  # cut short (a copy interrupted outside qmdr): read the vectors from SQLite instead
        matrix = (
            np.memmap(path, np.float32, mode="r", offset=sections["matrix"][0], shape=(rows, model[1]))
            if rows
            else np.zeros((0, model[1]), np.float32)
        )

        def small(name: str, dtype: Any, count: int) -> np.ndarray:
            if count == 0:
                return np.zeros(0, dtype)
            return np.fromfile(path, dtype=dtype, count=count, offset=sections[name][0])

        with open(path, "rb") as source:
            source.seek(sections["notes"][0])
            notes = json.loads(source.read(sections["notes"][1]))
        return VectorIndex(
            model=model,
            generation=header["generation"],
            epoch=epoch,
            matrix=matrix,
            keys=small("keys", KEY_DTYPE, rows),
            chunk_ids=small("chunk_ids", np.int64, chunks),
            chunk_rows=small("chunk_rows", ROW_DTYPE, chunks),
            chunk_note=small("chunk_note", np.int32, chunks),
            note_paths=[path_ for path_, _ in notes],
            note_tags=shared_tag_sets(tags for _, tags in notes),
        ), str(header.get("stamp", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None
