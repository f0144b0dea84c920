"""Superseded notes: a note whose frontmatter names its replacement (``superseded_by``) is stale memory.

Search and context leave such notes out unless asked (``include_superseded``),
so an agent that corrected a fact stops being shown the old one, while the old
note stays on disk, readable and searchable on request. The frontmatter of
the indexed note is the source of truth, so an edit in the folder (removing
``superseded_by``) brings a note back at the next index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import anyio.to_thread

#: the frontmatter key the correcting write sets on the old note (its value: the new note's path)
SUPERSEDED_BY = "superseded_by"
#: the frontmatter key set on the new note (its value: the old note's path)
SUPERSEDES = "supersedes"
#: a vault search that had to drop superseded notes is asked again this many times deeper, so about ``k``
#: current results remain; searches that met none (the usual case) cost one note read per result only
SUPERSEDED_OVERSAMPLE = 2


class _NoteReader(Protocol):
    def get_note(self, path: str) -> dict[str, Any] | None: ...


class _Generational(Protocol):
    def generation(self) -> int: ...


class _HasPath(Protocol):
    @property
    def path(self) -> str: ...


R = TypeVar("R", bound=_HasPath)


def is_superseded(note: dict[str, Any] | None) -> bool:
    """True when an indexed note's frontmatter names a replacement."""
    if not note:
        return False
    value = (note.get("frontmatter") or {}).get(SUPERSEDED_BY)
    return bool(value) and value is not False


def superseded_paths(store: _NoteReader, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` are superseded notes (one note read per distinct path)."""
    return {path for path in dict.fromkeys(paths) if is_superseded(store.get_note(path))}


async def drop_superseded(store: _NoteReader, results: list[R]) -> list[R]:
    """``results`` without those from superseded notes, order kept."""
    if not results:
        return results
    stale = await anyio.to_thread.run_sync(superseded_paths, store, [r.path for r in results])
    return [r for r in results if r.path not in stale] if stale else results


class SupersededFilter:
    """``drop_superseded`` with memory: each note's answer is kept until its vault's index changes.

    Reading a note per result costs about a millisecond per search of 10; the index's generation
    (bumped by every committed change, by any process) costs one tiny query, so a search over an
    unchanged index reads no note at all. Stores without ``generation`` are asked every time.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, dict[str, bool]]] = {}  # vault -> (generation, path -> superseded)

    async def drop(self, vault: str, store: _NoteReader, results: list[R]) -> list[R]:
        if not results:
            return results
        generation = getattr(store, "generation", None)
        if not callable(generation):
            return await drop_superseded(store, results)

        def check() -> set[str]:
            current = generation()
            cached_generation, answers = self._known.get(vault, (None, {}))
            if cached_generation != current:
                answers = {}
                self._known[vault] = (current, answers)
            for path in dict.fromkeys(r.path for r in results):
                if path not in answers:
                    answers[path] = is_superseded(store.get_note(path))
            return {path for path, stale in answers.items() if stale}

        stale = await anyio.to_thread.run_sync(check)
        return [r for r in results if r.path not in stale] if stale else results

    def forget(self, vault: str) -> None:
        self._known.pop(vault, None)
