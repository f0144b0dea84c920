"""Agents write memory: create, update or delete one note in a vault, then reindex just that note.

Safety, in order:

1. the path is confined to the vault (``vault.safe_note_path``: no ``..``, no
   absolute path, no symlink leading out; ``PathOutsideVault`` otherwise), must
   be a markdown name, and must be a path the scan would index (not hidden, not
   in ``.qmdrignore``), or the write would be invisible to search;
2. the new text is written to a hidden temporary file in the same folder,
   flushed and ``fsync``ed, then ``os.replace``d over the note: a reader (or a
   crash) sees the old note or the new one, never half of one;
3. the read-merge-write and the reindex run under the vault's writer lock, so
   two agents updating one note's frontmatter at once both land.

Frontmatter is *merged*: existing keys stay unless the request sets them; a
key set to ``null`` is removed. The body is replaced, or appended to with
``append=True`` (a running log).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import yaml

from qmdr.errors import NotFound, StoreError
from qmdr.memory.hub import VaultHub
from qmdr.memory.indexer import IndexSummary
from qmdr.memory.note_index import indexable, normalise_rel
from qmdr.memory.vaults import InvalidVault
from qmdr.util.atomic_file import replace_atomically
from vault import PathOutsideVault, safe_note_path
from vault.frontmatter import split_frontmatter
from vault.scan import is_markdown_name

#: suffix given to a path written without one: agents say "decisions/retries", the vault wants a .md file
DEFAULT_SUFFIX = ".md"
#: prefix of the temporary file; hidden, so scans and watchers never index a half-written note
TEMP_PREFIX = ".qmdr-write-"


@dataclass(slots=True)
class WriteOutcome:
    """What a write or delete did: the note's vault-relative path, and the one-note reindex summary."""

    vault: str
    path: str
    created: bool
    deleted: bool
    summary: IndexSummary


#: the longest file or folder name common file systems accept (ext4, APFS, NTFS): longer ones fail in the OS
MAX_NAME_BYTES = 255


def note_key(rel: str) -> str:
    """The index key of a note as an agent names it: the one normalisation of write, read and delete.

    ``log/today``, ``./log//today`` and ``log/today.md`` are all ``log/today.md``:
    separators and ``.`` parts are normalised and a name without a suffix gets
    ``.md`` (as a write stores it). A name with another suffix is returned as
    it is, so a read answers 404 for it and a write refuses it.
    """
    key = normalise_rel(rel.strip())
    if key and not is_markdown_name(key) and "." not in key.rsplit("/", 1)[-1].lstrip("."):
        key += DEFAULT_SUFFIX
    return key


def note_rel_path(root: Path, rel: str) -> tuple[str, Path]:
    """(normalised relative path, absolute path) for a note an agent names, or ``PathOutsideVault``."""
    if not isinstance(rel, str) or not rel.strip():
        raise PathOutsideVault(str(rel), "the path is empty")
    safe_note_path(root, rel.strip())  # refuse absolute paths, '..' and escaping symlinks before normalising
    key = note_key(rel)
    if key and not is_markdown_name(key):
        raise PathOutsideVault(rel, "only markdown notes (.md, .markdown) can be written")
    too_long = [part for part in key.split("/") if len(part.encode("utf-8")) > MAX_NAME_BYTES]
    if too_long:
        raise PathOutsideVault(rel, f"a file or folder name is longer than {MAX_NAME_BYTES} bytes")
    target = safe_note_path(root, key)  # raises PathOutsideVault for '..', absolute paths, escaping symlinks
    if not indexable(root, key):
        raise PathOutsideVault(rel, "hidden or .qmdrignore'd paths would never be searchable; choose another path")
    return key, target


def merge_note_text(
    existing: str | None, *, content: str | None, frontmatter: dict[str, Any] | None, append: bool = False
) -> str:
    """The new file text: frontmatter merged (existing < content's own < request), body replaced or appended."""
    old = split_frontmatter(existing) if existing else None
    meta: dict[str, Any] = dict(old.frontmatter) if old else {}
    body = old.body if old else ""
    if content is not None:
        new = split_frontmatter(content)
        meta.update(new.frontmatter)
        body = body.rstrip("\n") + "\n\n" + new.body.lstrip("\n") if append and body.strip() else new.body
    for key, value in (frontmatter or {}).items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    body = body if body.endswith("\n") or not body else body + "\n"
    if not meta:
        return body
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{header}---\n{body}"


def atomic_write(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` via a hidden temp file in the same folder and ``os.replace``."""
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644  # an edit keeps the note's permissions
    with replace_atomically(target, prefix=TEMP_PREFIX, suffix=".tmp", text=True, mode=mode) as handle:
        handle.write(text)


def _writable(hub: VaultHub, vault: str) -> Path:
    info = hub.info(vault)
    if not info.settings.writable:
        raise InvalidVault(f"vault {vault!r} is read-only (its settings say writable: false)")
    return info.folder


async def write_note(
    hub: VaultHub,
    vault: str,
    path: str,
    *,
    content: str | None = None,
    frontmatter: dict[str, Any] | None = None,
    append: bool = False,
) -> WriteOutcome:
    """Create or update a note and reindex it before returning (see the module docstring)."""
    if content is None and not frontmatter:
        raise InvalidVault("give content, frontmatter or both")
    root = _writable(hub, vault)
    key, target = note_rel_path(root, path)
    limit = hub.chunking(hub.info(vault))["max_note_bytes"]
    async with hub.writer(vault):

        def write() -> str | None:
            existing = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
            text = merge_note_text(existing, content=content, frontmatter=frontmatter, append=append)
            if len(text.encode("utf-8")) > limit:
                raise InvalidVault(f"the note would be over the vault's size limit of {limit} bytes")
            if not text.strip():
                raise InvalidVault("the note would be empty; delete it instead")
            atomic_write(target, text)
            return existing

        def put_back(previous: str | None) -> None:
            if previous is None:
                target.unlink(missing_ok=True)
            else:
                atomic_write(target, previous)

        existing = await anyio.to_thread.run_sync(write)
        try:
            summary = await hub.index_paths(vault, [key], locked=True)
        except StoreError:
            # The index refused or could not be reached (PostgreSQL down): put the file back, so the
            # failed write changed nothing and a retried append does not append twice.
            await anyio.to_thread.run_sync(put_back, existing)
            raise
    return WriteOutcome(vault, key, created=existing is None, deleted=False, summary=summary)


async def delete_note(hub: VaultHub, vault: str, path: str) -> WriteOutcome:
    """Delete a note's file and drop it from the index; ``NotFound`` when neither exists."""
    root = _writable(hub, vault)
    key, target = note_rel_path(root, path)
    async with hub.writer(vault):
        existed = await anyio.to_thread.run_sync(target.is_file)
        indexed = key in await anyio.to_thread.run_sync(hub.open(vault).store.note_hashes)
        if not existed and not indexed:
            raise NotFound(f"no note at {key!r} in vault {vault!r}")
        if existed:
            await anyio.to_thread.run_sync(target.unlink)
        summary = await hub.index_paths(vault, [key], locked=True)
    return WriteOutcome(vault, key, created=False, deleted=True, summary=summary)
