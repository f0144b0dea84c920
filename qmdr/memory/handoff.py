"""What changed since a date: the notes an agent picking up a run should read first.

A note *changed after* a date when its file was modified after it: a note
write, an append to a running log, an import and an edit in the folder all
update the file's mtime. The file is the source of truth, so this works the
same on both stores and for notes edited outside qmdr; frontmatter dates are
not used here, because they say what a note is about (``date: 2019-03-01``),
not when memory last changed, and reading them would cost a note read per
unchanged note.

``changed_notes`` lists them newest first; ``qmdr.memory.context`` turns them
into the ``since`` context block.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import anyio.to_thread

from qmdr.errors import InvalidQuery
from qmdr.memory.hub import VaultHub

#: most changed notes one context block considers: a block holds far fewer, and each costs a note read
MAX_CHANGED_NOTES = 500


@dataclass(frozen=True, slots=True)
class ChangedNote:
    vault: str
    path: str
    changed_at: float  # POSIX seconds


def parse_since(value: str | date | datetime) -> datetime:
    """An aware datetime from an ISO 8601 date or date-time (a date means its midnight, UTC; naive means UTC)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidQuery(
                f"since: {value!r} is not an ISO 8601 date or date-time (e.g. 2024-05-01 or 2024-05-01T14:30:00Z)"
            ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def changed_notes(hub: VaultHub, since: datetime, vaults: Sequence[str] | None = None) -> list[ChangedNote]:
    """Indexed notes of the chosen vaults changed after ``since``, newest first (at most MAX_CHANGED_NOTES)."""
    threshold = since.timestamp()
    found: list[ChangedNote] = []
    for name in hub.resolve(vaults):
        opened = hub.open(name)
        folder = hub.info(name).folder
        paths = sorted(await anyio.to_thread.run_sync(opened.store.note_hashes))

        def stat_all(paths: list[str] = paths, folder: os.PathLike[str] = folder) -> list[tuple[str, float]]:
            out = []
            for path in paths:
                try:
                    out.append((path, os.stat(os.path.join(folder, path)).st_mtime))
                except OSError:
                    continue  # deleted since the last index: gone, not changed
            return out

        for path, mtime in await anyio.to_thread.run_sync(stat_all):
            if mtime > threshold:
                found.append(ChangedNote(name, path, mtime))
    found.sort(key=lambda n: (-n.changed_at, n.vault, n.path))
    return found[:MAX_CHANGED_NOTES]
