"""The vault registry in PostgreSQL (``qmdr_shared.vaults``), for replicas sharing ``QMDR_DATABASE_URL``.

Same behaviour as ``qmdr.memory.vaults.VaultRegistry`` (the SQLite file): the
same name rules, folder check and errors (``VaultRegistryRules``), each change one statement. Picked by
``qmdr.memory.backends.open_vault_registry``.
"""

from __future__ import annotations

from psycopg.types.json import Jsonb

from qmdr.memory.vaults import VaultInfo, VaultRegistryRules, check_vault_name, vault_info_from_row
from qmdr.store.pg_shared import SharedTables

_COLUMNS = "SELECT name, folder, settings, created_at FROM qmdr_shared.vaults"


class PostgresVaultRegistry(SharedTables, VaultRegistryRules):
    """``PostgresVaultRegistry(url)``: the registry every replica on that database reads."""

    def list(self) -> list[VaultInfo]:
        with self._transaction() as conn:
            rows = conn.execute(f"{_COLUMNS} ORDER BY name").fetchall()  # noqa: S608 (constant)
        return [vault_info_from_row(row) for row in rows]

    def find(self, name: str) -> VaultInfo | None:
        with self._transaction() as conn:
            row = conn.execute(f"{_COLUMNS} WHERE name = %s", (name,)).fetchone()  # noqa: S608 (constant)
        return None if row is None else vault_info_from_row(row)

    def _insert(self, info: VaultInfo, *, replace: bool) -> bool:
        on_conflict = (
            ("DO UPDATE SET folder = excluded.folder, settings = excluded.settings, created_at = excluded.created_at")
            if replace
            else "DO NOTHING"
        )
        with self._transaction() as conn:
            return (
                conn.execute(
                    "INSERT INTO qmdr_shared.vaults (name, folder, settings, created_at) "  # noqa: S608 (constants)
                    f"VALUES (%s, %s, %s, %s) ON CONFLICT (name) {on_conflict}",
                    (info.name, str(info.folder), Jsonb(info.settings.to_dict()), info.created_at),
                ).rowcount
                > 0
            )

    def remove(self, name: str) -> bool:
        """Forget ``name``; True when it was registered."""
        with self._transaction() as conn:
            return (
                conn.execute("DELETE FROM qmdr_shared.vaults WHERE name = %s", (check_vault_name(name),)).rowcount > 0
            )
