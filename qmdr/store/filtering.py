"""What a ``Filters`` means, in one place, so keyword and vector search agree.

Both the SQL of the keyword search and the numpy mask of the vector search
use these two functions; a test checks that they select the same notes.
"""

from __future__ import annotations

from collections.abc import Iterable

from qmdr.store.base import Filters


def tag_key(tag: str) -> str:
    """The form a tag is stored and compared in: no ``#``, no surrounding space, case-folded.

    ``#Project``, ``project`` and ``PROJECT`` name the same tag in Obsidian-style
    vaults, so a filter should not depend on how one note spelled it.
    """
    return tag.strip().lstrip("#").strip().casefold()


def filter_tag_keys(filters: Filters) -> tuple[str, ...]:
    """The distinct, non-empty tag keys a filter requires (a blank tag requires nothing)."""
    return tuple(dict.fromkeys(key for key in map(tag_key, filters.tags) if key))


def note_matches(path: str, tag_keys: Iterable[str], filters: Filters) -> bool:
    """True when a note at ``path`` carrying ``tag_keys`` passes ``filters``.

    ``path_prefix`` is a plain string prefix of the vault-relative path
    (``"projects/"`` selects a folder, ``"projects/qm"`` also works); tags must all be present.
    """
    if filters.path_prefix and not path.startswith(filters.path_prefix):
        return False
    required = filter_tag_keys(filters)
    if required:
        have = set(tag_keys)
        return all(tag in have for tag in required)
    return True


def is_unfiltered(filters: Filters) -> bool:
    return not filters.path_prefix and not filter_tag_keys(filters)
