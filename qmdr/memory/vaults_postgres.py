"""The vault registry in PostgreSQL (``qmdr_shared.vaults``), for replicas sharing ``QMDR_DATABASE_URL``.

Same behaviour as ``qmdr.memory.vaults.VaultRegistry`` (the SQLite file): the
same name rules, the same errors, each change one statement. Picked by
``qmdr.memory.backends.open_vault_registry``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from psycopg.types.json import Jsonb

from qmdr.errors import NotFound
from qmdr.memory.vaults import UnknownVault, VaultExists, VaultInfo, VaultSettings, check_vault_name
from qmdr.store.pg_shared import SharedTables

_COLUMNS = "SELECT name, folder, settings, created_at FROM qmdr_shared.vaults"


class PostgresVaultRegistry(SharedTables):
    """``PostgresVaultRegistry(url)``: the registry every replica on that database reads."""

    def list(self) -> list[VaultInfo]:
        with self._transaction() as conn:
            rows = conn.execute(f"{_COLUMNS} ORDER BY name").fetchall()  # noqa: S608 (constant)
        return [_info(row) for row in rows]

    def find(self, name: str) -> VaultInfo | None:
        with self._transaction() as conn:
            row = conn.execute(f"{_COLUMNS} WHERE name = %s", (name,)).fetchone()  # noqa: S608 (constant)
        return None if row is None else _info(row)

    def get(self, name: str) -> VaultInfo:
        info = self.find(check_vault_name(name))
        if info is None:
            raise UnknownVault(f"no vault named {name!r}; `qmdr vault list` shows the vaults")
        return info

    def add(self, name: str, folder: Path, settings: VaultSettings | None = None, *,
            replace: bool = False) -> VaultInfo:
        """Register ``folder`` as ``name``; ``VaultExists`` unless ``replace``."""
        check_vault_name(name)
        folder = Path(folder).expanduser().resolve()
        if not folder.is_dir():
            raise NotFound(f"vault folder {str(folder)!r} does not exist")
        settings = settings or VaultSettings()
        settings.validate()
        info = VaultInfo(name, folder, settings, time.time())
        on_conflict = ("DO UPDATE SET folder = excluded.folder, settings = excluded.settings, "
                       "created_at = excluded.created_at") if replace else "DO NOTHING"
        with self._transaction() as conn:
            added = conn.execute(
                "INSERT INTO qmdr_shared.vaults (name, folder, settings, created_at) "  # noqa: S608 (constants)
                f"VALUES (%s, %s, %s, %s) ON CONFLICT (name) {on_conflict}",
                (name, str(folder), Jsonb(settings.to_dict()), info.created_at)).rowcount
        if not added:
            raise VaultExists(f"a vault named {name!r} already exists; remove it first")
        return info

    def remove(self, name: str) -> bool:
        """Forget ``name``; True when it was registered."""
        with self._transaction() as conn:
            return conn.execute("DELETE FROM qmdr_shared.vaults WHERE name = %s",
                                (check_vault_name(name),)).rowcount > 0


def _info(row: tuple[str, str, dict | str, float]) -> VaultInfo:
    name, folder, settings, created_at = row
    data = json.loads(settings) if isinstance(settings, str) else settings
    return VaultInfo(name, Path(folder), VaultSettings.from_dict(data), created_at)
