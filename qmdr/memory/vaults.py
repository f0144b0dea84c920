"""Named vaults: which folders the service knows, each with its own settings and its own index.

One service can hold several vaults, e.g. a personal vault per agent and a
``shared`` vault. ``VaultRegistry`` persists them in a small SQLite file in the
data dir (``vaults.sqlite``, stdlib ``sqlite3``; each change is one transaction,
so a crash never leaves half a registration).

Design choice: **one index file per vault** (``<data dir>/vaults/<name>.sqlite``)
rather than one store with a vault column. Each vault then has its own writer,
its own reindex lock and its own embedding model guard; removing a vault is
deleting one file; and the store schema (paths as primary keys) stays as it is.
The vault named ``default`` is an ordinary vault with two differences: its
folder is ``QMDR_VAULT``, else the folder it was first indexed from (recorded
here), and it cannot be removed. Its index is ``QMDR_INDEX_PATH`` /
``QMDR_INDEX_NAME`` (``qmdr.store.factory``), so the single-vault commands and
routes are aliases of its ``/vaults/default/...`` forms.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qmdr.errors import Conflict, InvalidQuery, NotFound
from qmdr.util.small_db import SmallSqliteFile

#: the vault that is the single-vault index of QMDR_VAULT / `qmdr index PATH`
DEFAULT_VAULT = "default"
#: lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters:
#: a vault name is a file name under the data dir and a URL path segment, so it must be safe as both
VAULT_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: names that mean something else where vault names are read, with the reason shown to whoever picks one
RESERVED_VAULT_NAMES = {"all": "'all' means every vault in a search (vaults=[\"all\"], --vault all)"}
#: the registry file name under the data dir
REGISTRY_FILE = "vaults.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS vaults (
    name TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL
);
"""


class VaultExists(Conflict):
    """A vault of that name is already registered (HTTP 409)."""


class VaultFolderConflict(Conflict):
    """A folder given for indexing is no vault's folder, and indexing it would re-point a vault (HTTP 409)."""


class NotAFolder(InvalidQuery):
    """A file was given where a vault folder is expected (HTTP 422)."""


class InvalidVault(InvalidQuery):
    """A vault name or vault setting is not acceptable (HTTP 422)."""


class UnknownVault(NotFound):
    """No vault of that name (HTTP 404)."""


@dataclass(frozen=True, slots=True)
class VaultSettings:
    """Per-vault settings; ``None`` means "use the service-wide setting".

    ``writable=False`` makes a vault read-only for agents (``POST /vaults/{v}/notes``
    answers 403-like ``InvalidVault``); the folder itself is never written otherwise.
    """

    description: str = ""
    chunk_tokens: int | None = None
    chunk_overlap: int | None = None
    max_note_bytes: int | None = None
    writable: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> VaultSettings:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidVault(f"unknown vault settings {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        settings = cls(**data)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.chunk_tokens is not None and not 32 <= self.chunk_tokens <= 8192:
            raise InvalidVault("chunk_tokens must be between 32 and 8192")
        if self.chunk_overlap is not None and not 0 <= self.chunk_overlap <= 1024:
            raise InvalidVault("chunk_overlap must be between 0 and 1024")
        if self.max_note_bytes is not None and self.max_note_bytes < 1024:
            raise InvalidVault("max_note_bytes must be at least 1024")
        if len(self.description) > 1000:
            raise InvalidVault("description is limited to 1000 characters")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class VaultInfo:
    """One registered vault: its name, its folder and its settings."""

    name: str
    folder: Path
    settings: VaultSettings = field(default_factory=VaultSettings)
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": str(self.folder),
            "settings": self.settings.to_dict(),
            "created_at": self.created_at,
        }


def check_vault_name(name: str) -> str:
    """The name itself when it is a valid slug; ``InvalidVault`` otherwise."""
    if not isinstance(name, str) or not VAULT_NAME_PATTERN.match(name):
        raise InvalidVault(f"invalid vault name {name!r}: use 1-64 lower-case letters, digits, '-' or '_'")
    return name


def check_new_vault_name(name: str) -> str:
    """``check_vault_name``, and not a reserved name (``RESERVED_VAULT_NAMES``)."""
    check_vault_name(name)
    if name in RESERVED_VAULT_NAMES:
        raise InvalidVault(f"the vault name {name!r} is reserved: {RESERVED_VAULT_NAMES[name]}")
    return name


def require_folder(folder: Path | str) -> Path:
    """``folder`` resolved, when it is an existing folder: ``NotFound`` when missing, ``NotAFolder`` for a file."""
    resolved = Path(folder).expanduser().resolve()
    if resolved.is_file():
        raise NotAFolder(f"{str(resolved)!r} is a file, not a folder: give the folder that holds the notes")
    if not resolved.is_dir():
        raise NotFound(f"vault folder {str(resolved)!r} does not exist")
    return resolved


class VaultRegistryRules:
    """What every registry backend shares: the name rules, the folder check and the errors.

    ``VaultRegistry`` (SQLite file) and ``PostgresVaultRegistry`` (``qmdr_shared.vaults``)
    must answer alike, so the checks live here once; a backend supplies ``find`` and
    ``_insert``, the one statement that differs.
    """

    def find(self, name: str) -> VaultInfo | None:
        raise NotImplementedError

    def _insert(self, info: VaultInfo, *, replace: bool) -> bool:
        """Store ``info`` (over an existing one when ``replace``); False when the name is taken."""
        raise NotImplementedError

    def get(self, name: str) -> VaultInfo:
        info = self.find(check_vault_name(name))
        if info is None:
            raise UnknownVault(f"no vault named {name!r}; `qmdr vault list` shows the vaults")
        return info

    def add(
        self, name: str, folder: Path, settings: VaultSettings | None = None, *, replace: bool = False
    ) -> VaultInfo:
        """Register ``folder`` as ``name``; ``VaultExists`` unless ``replace``."""
        check_vault_name(name)
        settings = settings or VaultSettings()
        settings.validate()
        info = VaultInfo(name, require_folder(folder), settings, time.time())
        if not self._insert(info, replace=replace):
            raise VaultExists(f"a vault named {name!r} already exists; remove it first")
        return info


class VaultRegistry(SmallSqliteFile, VaultRegistryRules):
    """The persisted list of vaults (``VaultRegistry(path)``)."""

    SCHEMA = SCHEMA

    def list(self) -> list[VaultInfo]:
        with self._connect() as conn:
            rows = conn.execute("SELECT name, folder, settings, created_at FROM vaults ORDER BY name").fetchall()
        return [vault_info_from_row(row) for row in rows]

    def find(self, name: str) -> VaultInfo | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT name, folder, settings, created_at FROM vaults WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else vault_info_from_row(row)

    def _insert(self, info: VaultInfo, *, replace: bool) -> bool:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        try:
            with self._connect() as conn:
                conn.execute(
                    f"{verb} INTO vaults(name, folder, settings, created_at) VALUES (?, ?, ?, ?)",  # noqa: S608
                    (info.name, str(info.folder), json.dumps(info.settings.to_dict()), info.created_at),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def remove(self, name: str) -> bool:
        """Forget ``name``; True when it was registered."""
        with self._connect() as conn:
            return conn.execute("DELETE FROM vaults WHERE name = ?", (check_vault_name(name),)).rowcount > 0


def vault_info_from_row(row: tuple[str, str, dict[str, Any] | str, float]) -> VaultInfo:
    """A registry row (name, folder, settings as JSON text or an already decoded dict, created_at) as ``VaultInfo``."""
    name, folder, settings, created_at = row
    data = json.loads(settings) if isinstance(settings, str) else settings
    return VaultInfo(name, Path(folder), VaultSettings.from_dict(data), created_at)
