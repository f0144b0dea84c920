"""Export a vault's notes as plain markdown: a folder tree, or a ZIP of one.

Memory written by agents through the API is ordinary markdown in the vault's
folder; export makes that explicit and portable: every note the scan would
index (hidden files, ``.qmdrignore``'d paths and qmdr's own temporary files
stay behind), under the same relative paths, bytes unchanged. Notes over the
vault's size limit are exported too: they are the user's notes even if search
skips them.

A folder export is written to a hidden sibling folder and renamed into place
when complete, so ``DEST`` is either absent or whole.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qmdr.errors import QmdrError
from qmdr.util.atomic_file import fill_new_folder, replace_atomically
from vault.scan import scan_vault

#: scan limit for export: every note, whatever its size (search has its own limit)
EXPORT_MAX_NOTE_BYTES = 1 << 62


class ExportError(QmdrError):
    """The export destination is in the way."""


@dataclass(slots=True)
class ExportReport:
    vault: str
    dest: Path
    notes: int
    bytes: int


def note_files(folder: Path) -> list[str]:
    """Vault-relative POSIX paths of every note in ``folder``."""
    return scan_vault(folder, max_bytes=EXPORT_MAX_NOTE_BYTES).files


def export_folder(vault: str, folder: Path, dest: Path) -> ExportReport:
    """Copy every note of ``folder`` to the new folder ``dest`` (refused if it exists and is not empty)."""
    dest = Path(dest).expanduser().resolve()
    folder = Path(folder).resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} already exists and is not an empty folder; choose a new destination")
    if dest == folder or folder in dest.parents:
        raise ExportError(f"{dest} is inside the vault folder {folder}; export somewhere else")
    files = note_files(folder)
    total = 0
    with fill_new_folder(dest) as staging:
        for rel in files:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / rel, target)
            total += target.stat().st_size
    return ExportReport(vault, dest, len(files), total)


class _Pieces:
    """A write-only, unseekable file: ``zipfile`` then tracks offsets itself and we can hand out each piece."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.pieces)
        self.pieces.clear()
        return out


def export_zip_bytes(folder: Path) -> Iterator[bytes]:
    """A ZIP of every note of ``folder``, yielded note by note (never the whole archive in memory)."""
    sink = _Pieces()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for rel in note_files(folder):
            archive.write(folder / rel, rel)
            yield sink.take()
    yield sink.take()


def export_zip_file(vault: str, folder: Path, dest: Path) -> ExportReport:
    """Write the ZIP of every note of ``folder`` to the new file ``dest`` (via a hidden temp file and a rename)."""
    dest = Path(dest).expanduser().resolve()
    if dest.exists():
        raise ExportError(f"{dest} already exists; choose a new file name")
    with replace_atomically(dest, prefix=f".{dest.name}.partial-") as handle:
        for piece in export_zip_bytes(folder):
            handle.write(piece)
    with zipfile.ZipFile(dest) as archive:
        notes = len(archive.namelist())
    return ExportReport(vault, dest, notes, dest.stat().st_size)
