"""A real Service for the agent-memory tests: real SQLite files, the deterministic HashEmbedder.

Importable (not a conftest) so each memory test module states what it builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qmdr.memory.hub import VaultHub
from qmdr.service import Service
from qmdr.settings import Settings
from tests.qmdr.embedders import HashEmbedder


def make_service(tmp_path: Path, vault: Path | None = None, embedder: Any | None = None, **settings: Any) -> Service:
    """A Service over ``tmp_path/data``; ``vault`` becomes QMDR_VAULT (the ``default`` vault)."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = Settings(_env_file=None, qmdr_data_dir=data, qmdr_vault=vault, **settings)
    return Service(config, VaultHub(config, embedder or HashEmbedder()))  # every index opened (and closed) by the hub


def write_notes(root: Path, notes: dict[str, str]) -> Path:
    for rel, text in notes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
