"""Back up and restore every SQLite database qmdr keeps, while the server runs.

What a backup holds: every ``*.sqlite`` file of the data dir (the default
index, the vault registry, feedback, the encrypted settings store) and of its
``vaults/`` folder (one index per named vault), plus the default index when
``QMDR_INDEX_PATH`` puts it elsewhere. Stored API keys stay encrypted: the
backup is useless without ``SECRET_ENCRYPTION_KEY``, which it never contains.

How it stays consistent with a server writing meanwhile: each database is
copied with SQLite's online backup API (``apsw.Connection.backup``) in a
single step, i.e. inside one read transaction. In WAL mode that read sees the
last commit and never blocks (or is blocked by) the writer, so a backup taken
during a reindex holds the index as it was before the reindex's transaction
committed, or after it: never half of it. Each copy is checked with
``PRAGMA integrity_check`` and recorded in ``manifest.json`` with its SHA-256,
and the backup folder appears under its final name only when complete.

Restore is the reverse, and also uses the backup API, *into* the target
database: SQLite writes the pages in one transaction through its own journal,
so an interrupted restore leaves the previous database intact, and a WAL file
beside the target is handled by SQLite instead of being replayed onto foreign
pages. Restore refuses to replace existing databases unless ``force``; stop
the server first (it holds in-memory vectors of the old index). The persisted
vector snapshot beside an index (``<index>.vectors``, a cache) is not backed up
and is deleted on restore; the next start rebuilds it from the restored index.

PostgreSQL: the indexes live in the database; back it up with ``pg_dump``
(documented in the README). ``backup`` still copies the local SQLite files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

from qmdr import __version__
from qmdr.errors import QmdrError
from qmdr.settings import Settings
from qmdr.store.vector_file import snapshot_file
from qmdr.util.atomic_file import fill_new_folder, replace_atomically

MANIFEST = "manifest.json"
#: manifest layout version; restore refuses a newer one instead of guessing
MANIFEST_VERSION = 1
#: the data dir's subfolder of named-vault indexes (``qmdr.store.factory.VAULT_INDEX_DIR``)
VAULTS_DIR = "vaults"
#: how a file in the manifest says where it goes: under the data dir, or the QMDR_INDEX_PATH outside it
DATA_ROLE, INDEX_ROLE = "data", "index"
#: how long the copy waits on a busy source database (a writer checkpointing) before giving up
BUSY_TIMEOUT_MS = 30_000
#: bytes hashed per read
HASH_BLOCK = 1024 * 1024


class BackupError(QmdrError):
    """A backup or restore cannot proceed (missing or damaged backup, target in the way)."""


@dataclass(slots=True)
class BackupFile:
    role: str  # DATA_ROLE (relative to the data dir) or INDEX_ROLE (the QMDR_INDEX_PATH file)
    rel: str  # path inside the backup folder (and, for DATA_ROLE, inside the data dir)
    size: int = 0
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "path": self.rel, "size": self.size, "sha256": self.sha256}


@dataclass(slots=True)
class BackupReport:
    folder: Path
    files: list[BackupFile] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the backup does not hold (e.g. PostgreSQL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "files": [f.to_dict() for f in self.files],
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }


def databases(settings: Settings) -> list[tuple[BackupFile, Path]]:
    """Every SQLite database qmdr keeps for these settings, as (manifest entry, live path)."""
    data = Path(settings.qmdr_data_dir).expanduser()
    found: list[tuple[BackupFile, Path]] = []
    seen: set[Path] = set()
    for folder, prefix in ((data, ""), (data / VAULTS_DIR, f"{VAULTS_DIR}/")):
        if folder.is_dir():
            for path in sorted(folder.glob("*.sqlite")):
                if path.is_file() and not path.name.startswith("."):
                    found.append((BackupFile(DATA_ROLE, prefix + path.name), path))
                    seen.add(path.resolve())
    index = Path(settings.index_path).expanduser()
    if index.is_file() and index.resolve() not in seen and not settings.qmdr_database_url:
        found.append((BackupFile(INDEX_ROLE, f"index/{index.name}"), index))
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of ``source`` at ``target`` in one backup step (one read transaction)."""
    src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        src.set_busy_timeout(BUSY_TIMEOUT_MS)
        dest = apsw.Connection(str(target))
        try:
            with dest.backup("main", src, "main") as step:
                step.step(-1)
            # the copy is a plain rollback-journal file: self-contained, no -wal beside it
            dest.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in dest.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"the copy of {source.name} failed its integrity check: {problems[:3]}")
        finally:
            dest.close()
    finally:
        src.close()


def backup(settings: Settings, dest: Path) -> BackupReport:
    """Copy every database to ``dest`` (a new or empty folder); see the module docstring."""
    started = time.perf_counter()
    dest = Path(dest).expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists and is not an empty folder; choose a new destination")
    found = databases(settings)
    if not found and not settings.qmdr_database_url:
        raise BackupError(f"nothing to back up: no SQLite database in {settings.qmdr_data_dir}")
    report = BackupReport(dest)
    with fill_new_folder(dest) as staging:
        for entry, live in found:
            target = staging / entry.rel
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_database(live, target)
            entry.size = target.stat().st_size
            entry.sha256 = _sha256(target)
            report.files.append(entry)
        if settings.qmdr_database_url:
            report.notes.append("the vault indexes live in PostgreSQL (QMDR_DATABASE_URL): back them up with pg_dump")
        manifest = {
            "version": MANIFEST_VERSION,
            "qmdr": __version__,
            "created_at": time.time(),
            "files": [f.to_dict() for f in report.files],
            "notes": report.notes,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    report.seconds = time.perf_counter() - started
    return report


def read_manifest(src: Path) -> list[BackupFile]:
    """The files a backup folder holds, each checked against its recorded size and SHA-256."""
    src = Path(src).expanduser()
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{src} is not a qmdr backup (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("version", 0) > MANIFEST_VERSION:
            raise BackupError(f"{src} was written by a newer qmdr (manifest version {manifest['version']})")
        files = [BackupFile(f["role"], f["path"], int(f["size"]), f["sha256"]) for f in manifest["files"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{src / MANIFEST} is damaged: {exc}") from None
    for entry in files:
        path = src / entry.rel
        if entry.role not in (DATA_ROLE, INDEX_ROLE) or ".." in Path(entry.rel).parts or Path(entry.rel).is_absolute():
            raise BackupError(f"{MANIFEST} names an unexpected file {entry.rel!r}")
        if not path.is_file():
            raise BackupError(f"{entry.rel} is missing from the backup")
        if path.stat().st_size != entry.size or _sha256(path) != entry.sha256:
            raise BackupError(f"{entry.rel} does not match its checksum in {MANIFEST}: the backup is damaged")
    return files


def restore_target(settings: Settings, entry: BackupFile) -> Path:
    """Where a backed-up database goes for these settings."""
    if entry.role == INDEX_ROLE:
        return Path(settings.index_path).expanduser()
    return Path(settings.qmdr_data_dir).expanduser() / entry.rel


def restore(settings: Settings, src: Path, *, force: bool = False) -> list[tuple[str, Path]]:
    """Bring every database of the backup ``src`` back; refuses to replace existing ones without ``force``."""
    files = read_manifest(src)
    plan = [(entry, Path(src).expanduser() / entry.rel, restore_target(settings, entry)) for entry in files]
    existing = [target for _, _, target in plan if target.exists()]
    if existing and not force:
        names = ", ".join(str(t) for t in existing[:5]) + (" ..." if len(existing) > 5 else "")
        raise BackupError(
            f"restoring would replace {len(existing)} existing database(s) ({names}); "
            "stop the server and pass --force to replace them"
        )
    done = []
    for entry, copy, target in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        # the persisted vector snapshot beside an index is a cache of the index being replaced: drop it
        # first (the next start rebuilds it from the restored index), so no reader can pair the two
        snapshot_file(target).unlink(missing_ok=True)
        if target.exists():
            _restore_into(copy, target)
        else:
            _restore_new(copy, target)
        done.append((entry.rel, target))
    return done


def _restore_into(copy: Path, target: Path) -> None:
    """Replace an existing database's content in one SQLite transaction (see the module docstring)."""
    src = apsw.Connection(str(copy), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        dest = apsw.Connection(str(target))
        try:
            dest.set_busy_timeout(BUSY_TIMEOUT_MS)
            with dest.backup("main", src, "main") as step:
                step.step(-1)
            dest.execute("PRAGMA journal_mode=WAL")  # qmdr's databases run in WAL mode
        finally:
            dest.close()
    finally:
        src.close()


def _restore_new(copy: Path, target: Path) -> None:
    """A database that does not exist yet: copy to a hidden temp file beside it, then rename into place."""
    with replace_atomically(target, prefix=f".{target.name}.restore-") as handle, open(copy, "rb") as source:
        shutil.copyfileobj(source, handle)
