"""What a ``Filters`` means, in one place, so every retriever of every store agrees.

Path prefix and tags: ``note_matches`` (the vector snapshot) and the stores' SQL
say the same thing; a test checks that they select the same notes.

Frontmatter fields (``where``) and note dates (``after``/``before``) are stored
at index time in the form they are compared in, so a filter is an index lookup:

* every top-level frontmatter key whose value is a string, number or boolean,
  or a list of them, gives one *term* per value (``field_term``): the JSON
  array ``[key, value]`` with numbers in one canonical form, so ``2`` and
  ``2.0`` are one term while ``"2"``, ``2`` and ``true`` stay three. A note
  passes ``where`` when, for every key, one of its terms is among the filter's
  (equality, any-of, and a list in frontmatter matching through any element);
* the note's date (``vault.frontmatter.note_timestamp``: ``updated``, else
  ``date``, else ``created``, else the file's mtime, the recency boost's rule)
  is kept as POSIX seconds; ``after`` is inclusive, ``before`` exclusive, so
  ``after=2026-01-01, before=2026-02-01`` is exactly January.

``make_filters`` turns what a caller sent (HTTP, MCP, CLI, Python) into a
``Filters`` or raises ``InvalidQuery`` naming the field, e.g.
``where.priority: unknown operator '$gt'``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from qmdr.errors import InvalidQuery
from qmdr.store.base import Filters
from vault.frontmatter import note_timestamp

#: the operators a ``where`` value may spell out; a bare value means ``$eq``, a list ``$in``
WHERE_OPERATORS = ("$eq", "$in")
#: at most this many keys in one ``where`` (each is one more index lookup per retriever)
MAX_WHERE_KEYS = 20
#: at most this many accepted values per key
MAX_WHERE_VALUES = 100
#: longest frontmatter key a filter may name
MAX_FIELD_KEY_CHARS = 200
#: string values longer than this are not stored as terms (a filter compares labels such as a status or a
#: project, not paragraphs), and a filter value longer than this is refused
MAX_FIELD_VALUE_CHARS = 500
#: terms stored per note at most: a frontmatter list of thousands of items is data, not a label
MAX_FIELD_TERMS = 1_000
#: integral floats below this magnitude compare equal to the integer (2.0 == 2); beyond it floats lose
#: integer precision, so they keep their own form
EXACT_FLOAT_INT = 2**53

Scalar = str | int | float | bool


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
    """True when a note at ``path`` carrying ``tag_keys`` passes the path and tag parts of ``filters``.

    ``path_prefix`` is a plain string prefix of the vault-relative path
    (``"projects/"`` selects a folder, ``"projects/qm"`` also works); tags must all be present.
    ``where``, ``after`` and ``before`` are answered by the store (``filters_notes``).
    """
    if filters.path_prefix and not path.startswith(filters.path_prefix):
        return False
    required = filter_tag_keys(filters)
    if required:
        have = set(tag_keys)
        return all(tag in have for tag in required)
    return True


def filters_notes(filters: Filters) -> bool:
    """True when ``filters`` has conditions on stored note fields (``where``, ``after``, ``before``)."""
    return bool(filters.where) or filters.after is not None or filters.before is not None


def is_unfiltered(filters: Filters) -> bool:
    return not filters.path_prefix and not filter_tag_keys(filters) and not filters_notes(filters)


# --- frontmatter terms ---------------------------------------------------------------------------


def _canonical(value: Any) -> Scalar | None:
    """The comparable form of a frontmatter or filter scalar; None when it cannot be filtered on."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < EXACT_FLOAT_INT else value
    return None


def field_term(key: str, value: Scalar) -> str:
    """The stored and compared form of ``key: value``: a JSON array, exact for any key and type."""
    return json.dumps([key, value], ensure_ascii=False, separators=(",", ":"))


def field_terms(frontmatter: Mapping[str, Any]) -> list[str]:
    """Every term of a note's frontmatter (see the module docstring), at most ``MAX_FIELD_TERMS``.

    Nested mappings, lists of lists, nulls, NaN and strings longer than
    ``MAX_FIELD_VALUE_CHARS`` give no term: they cannot be filtered on.
    """
    terms: dict[str, None] = {}
    for key, value in frontmatter.items():
        if not isinstance(key, str) or not key or len(key) > MAX_FIELD_KEY_CHARS:
            continue
        for item in value if isinstance(value, list) else [value]:
            scalar = _canonical(item)
            if scalar is None or (isinstance(scalar, str) and len(scalar) > MAX_FIELD_VALUE_CHARS):
                continue
            terms[field_term(key, scalar)] = None
            if len(terms) >= MAX_FIELD_TERMS:
                return list(terms)
    return list(terms)


def stored_note_passes(note: Mapping[str, Any], filters: Filters) -> bool:
    """``filters`` applied to one stored note (``Store.get_note``'s dict), by the rules the stores' SQL follows.

    For notes that reach a context block without a search (linked neighbours,
    notes changed since a date), so a filtered block holds only notes the filter keeps.
    """
    if not note_matches(note["path"], [tag_key(t) for t in note.get("tags") or ()], filters):
        return False
    if filters.where:
        have = set(field_terms(note.get("frontmatter") or {}))
        if not all(have.intersection(terms) for _, terms in filters.where):
            return False
    if filters.after is None and filters.before is None:
        return True
    when = note_timestamp(note.get("dates") or {}, note.get("mtime"))
    return (
        when is not None
        and (filters.after is None or when >= filters.after)
        and (filters.before is None or when < filters.before)
    )


# --- reading what a caller sent ------------------------------------------------------------------


def _where_values(key: str, value: Any) -> list[Any]:
    """The accepted values of one ``where`` entry: a value, a list (any of), or ``{"$eq": v}`` / ``{"$in": [...]}``."""
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise InvalidQuery(f"where.{key}: give one operator ({', '.join(WHERE_OPERATORS)}), not {len(value)} keys")
        ((operator, operand),) = value.items()
        if operator == "$eq":
            return [operand]
        if operator == "$in":
            if not isinstance(operand, list | tuple):
                raise InvalidQuery(f"where.{key}: $in takes a list of values")
            return list(operand)
        raise InvalidQuery(
            f"where.{key}: unknown operator {str(operator)[:40]!r} (supported: a value, a list of "
            f'values meaning any of them, {{"$eq": value}} or {{"$in": [values]}})'
        )
    return list(value) if isinstance(value, list | tuple) else [value]


def where_terms(where: Mapping[str, Any] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``Filters.where`` from a caller's mapping; ``InvalidQuery`` naming the key for anything unusable."""
    if not where:
        return ()
    if not isinstance(where, Mapping):
        raise InvalidQuery("where: give an object of frontmatter keys and values")
    if len(where) > MAX_WHERE_KEYS:
        raise InvalidQuery(f"where: at most {MAX_WHERE_KEYS} keys, got {len(where)}")
    out: list[tuple[str, tuple[str, ...]]] = []
    for key, value in where.items():
        if not isinstance(key, str) or not key.strip():
            raise InvalidQuery("where: keys must be non-empty frontmatter field names")
        if len(key) > MAX_FIELD_KEY_CHARS:
            raise InvalidQuery(f"where: key {key[:40]!r}... is longer than {MAX_FIELD_KEY_CHARS} characters")
        if key.startswith("$"):
            raise InvalidQuery(
                f"where.{key}: unknown operator {key[:40]!r}: operators go inside a field, "
                f'e.g. {{"status": {{"$in": ["a", "b"]}}}}'
            )
        values = _where_values(key, value)
        if not values:
            raise InvalidQuery(f"where.{key}: give at least one value")
        if len(values) > MAX_WHERE_VALUES:
            raise InvalidQuery(f"where.{key}: at most {MAX_WHERE_VALUES} values, got {len(values)}")
        terms: dict[str, None] = {}
        for item in values:
            scalar = _canonical(item)
            if scalar is None:
                raise InvalidQuery(
                    f"where.{key}: values must be strings, numbers or booleans, "
                    f"not {type(item).__name__ if item is not None else 'null'}"
                )
            if isinstance(scalar, str) and len(scalar) > MAX_FIELD_VALUE_CHARS:
                raise InvalidQuery(f"where.{key}: a value is longer than {MAX_FIELD_VALUE_CHARS} characters")
            terms[field_term(key, scalar)] = None
        out.append((key, tuple(terms)))
    return tuple(sorted(out))


def date_bound(field: str, value: str | date | datetime | None) -> float | None:
    """POSIX seconds of an ``after``/``before`` value: an ISO 8601 date (its midnight, UTC) or date-time
    (naive means UTC); ``InvalidQuery`` naming ``field`` for anything else."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            if not text or not text[:4].isdigit():
                raise ValueError(text)
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidQuery(
                f"{field}: {str(value)[:40]!r} is not an ISO 8601 date or date-time "
                "(e.g. 2026-01-31 or 2026-01-31T14:30:00Z)"
            ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def make_filters(
    *,
    path_prefix: str | None = None,
    tags: Iterable[str] = (),
    where: Mapping[str, Any] | None = None,
    after: str | date | datetime | None = None,
    before: str | date | datetime | None = None,
) -> Filters:
    """A validated ``Filters`` from what a caller sent; ``InvalidQuery`` naming the field otherwise."""
    low, high = date_bound("after", after), date_bound("before", before)
    if low is not None and high is not None and low >= high:
        raise InvalidQuery("before: must be later than after (after is inclusive, before exclusive)")
    return Filters(path_prefix=path_prefix or None, tags=tuple(tags), where=where_terms(where), after=low, before=high)
