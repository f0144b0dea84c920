"""Which folders the HTTP API may index: ``QMDR_VAULT``, ``QMDR_VAULT_ROOTS`` and registered vaults.

``POST /reindex`` takes a folder from the network, so it must not become a
way to read (and then search) any directory the service can see. A requested
folder is resolved first (``..`` collapsed, symlinks followed to where they
really point) and accepted only when it is one of the allowed roots or inside
one. A relative folder is taken relative to ``QMDR_VAULT``. The CLI's
``qmdr index PATH`` is not confined: whoever runs it already has the shell.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vault.errors import PathOutsideVault

#: a folder path longer than this is not a real vault (PATH_MAX on Linux is 4096)
MAX_FOLDER_CHARS = 4096


def allowed_roots(service: Any) -> list[Path]:
    """Resolved folders the API may index, in order: QMDR_VAULT, QMDR_VAULT_ROOTS, registered vaults."""
    settings = service.settings
    roots: list[Path] = []
    if settings.qmdr_vault is not None:
        roots.append(settings.qmdr_vault)
    roots.extend(getattr(settings, "qmdr_vault_roots", None) or [])
    hub = getattr(service, "memory", None)
    if hub is not None:
        roots.extend(info.folder for info in hub.list())
    seen: dict[Path, None] = {}
    for root in roots:
        seen.setdefault(Path(root).expanduser().resolve(), None)
    return list(seen)


def confine(requested: str, roots: Iterable[Path]) -> Path:
    """The resolved folder for ``requested``, or PathOutsideVault when it is not within a root."""
    roots = list(roots)
    if not requested or len(requested) > MAX_FOLDER_CHARS or "\x00" in requested:
        raise PathOutsideVault(requested[:200], "not a usable folder path")
    if not roots:
        raise PathOutsideVault(requested, "no vault folders are configured; set QMDR_VAULT or QMDR_VAULT_ROOTS")
    candidate = Path(requested).expanduser()
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    try:
        resolved = candidate.resolve()  # follows symlinks: one that points outside every root is refused
        resolved.is_dir()  # surfaces ENAMETOOLONG and friends here, as a 400, not later as a 500
    except OSError as exc:
        raise PathOutsideVault(requested[:200], f"not a usable folder path ({exc.strerror})") from None
    for root in roots:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    raise PathOutsideVault(requested, "the API may only index QMDR_VAULT, QMDR_VAULT_ROOTS or registered vaults")
