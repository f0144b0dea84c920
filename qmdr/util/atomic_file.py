"""Replace a file all at once: write a hidden temp file beside it, sync it, rename it over the target.

A reader (or a crash) then sees either the whole old file or the whole new one,
never half of either; a failure while writing removes the temp file and leaves the
target as it was. Notes, exports, restored databases and client downloads are all
written this way; backups and folder exports fill a staging folder that is renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def replace_atomically(
    target: Path, *, prefix: str, suffix: str = "", text: bool = False, mode: int | None = None
) -> Iterator[IO[Any]]:
    """Yield a handle (binary, or UTF-8 text with ``\\n`` line ends when ``text``) on a temp file beside
    ``target``; when the block ends cleanly the file is flushed, fsynced, given ``mode`` (else
    ``mkstemp``'s 0600 stays) and renamed over ``target``. ``prefix`` should start with a dot, so
    the half-written file is hidden from folder scans."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") if text else os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def fill_new_folder(dest: Path) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``dest`` to fill; when the block ends cleanly it is renamed to
    ``dest`` (which must be missing or an empty folder: the caller checks, with its own error), otherwise
    it is removed, so ``dest`` never holds half a backup or export."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        yield staging
        if dest.exists():
            dest.rmdir()  # empty, checked by the caller
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
