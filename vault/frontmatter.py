"""YAML frontmatter: split it off, parse it safely, and pull out title, tags and dates.

A note's frontmatter is the block between a first line of ``---`` and the next
line of ``---`` (or ``...``). Anything wrong with it (never closed, invalid
YAML, not a mapping, too big) is a *warning*, never an exception: the whole file
is then indexed as plain text, so a typo in metadata never hides a note.

Parsed values are converted to plain JSON types (dates become ISO strings,
keys become strings) because the store keeps frontmatter as JSON, and a node
budget stops YAML alias bombs from expanding into huge structures later.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

_DELIMITER = "---"
_CLOSERS = ("---", "...")

# 64 KiB: real frontmatter is a few lines; a bigger block is almost surely an unclosed
# fence swallowing the note, and parsing it costs time for nothing.
MAX_FRONTMATTER_CHARS = 64 * 1024

# 10,000 nodes: generous for any real metadata, and small enough that an alias bomb
# (a few lines of YAML that expand exponentially when serialised) is refused.
MAX_FRONTMATTER_NODES = 10_000

# Keys whose values are dates, mapped to the name used in ``Note.dates``.
# ``modified``/``lastmod`` are common aliases of ``updated`` (Obsidian plugins, Hugo).
DATE_KEYS = {
    "date": "date",
    "created": "created",
    "created_at": "created",
    "updated": "updated",
    "updated_at": "updated",
    "modified": "updated",
    "lastmod": "updated",
}

# Extra date layouts seen in vaults that ``datetime.fromisoformat`` does not accept.
_DATE_FORMATS = ("%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y")

_TAG_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True, slots=True)
class SplitNote:
    """A note's text cut into its metadata and its body."""

    frontmatter: dict[str, Any]
    body: str
    body_line: int  # 1-based line of the file where ``body`` starts
    warnings: tuple[str, ...]


class _TooManyNodes(Exception):
    """Internal: the frontmatter expands past MAX_FRONTMATTER_NODES."""


def split_frontmatter(text: str) -> SplitNote:
    """Separate frontmatter from the body of ``text`` (newlines already normalised to ``\\n``).

    Never raises: every problem becomes a warning and the full text becomes the body.
    """
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != _DELIMITER:
        return SplitNote({}, text, 1, ())
    close = next((i for i in range(1, len(lines)) if lines[i].rstrip() in _CLOSERS), None)
    if close is None:
        return _as_plain_text(text, "frontmatter opened on line 1 is never closed with '---'")
    block = "\n".join(lines[1:close])
    body = "\n".join(lines[close + 1 :])
    if len(block) > MAX_FRONTMATTER_CHARS:
        return _as_plain_text(text, f"frontmatter is over {MAX_FRONTMATTER_CHARS} characters")
    import yaml  # here, not at import: the store imports this module for note dates, and a search reads no YAML

    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except yaml.MarkedYAMLError as exc:
        where = f" at line {exc.problem_mark.line + 2}" if exc.problem_mark else ""
        return _as_plain_text(text, f"frontmatter is not valid YAML{where}: {exc.problem or exc}")
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # ValueError: e.g. ``date: 2023-02-30`` (YAML timestamp that is not a real date)
        return _as_plain_text(text, f"frontmatter is not valid YAML: {type(exc).__name__}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return _as_plain_text(text, f"frontmatter is a YAML {type(data).__name__}, not a mapping of keys")
    try:
        plain = _to_plain(data, [0])
    except (_TooManyNodes, RecursionError):
        return _as_plain_text(text, f"frontmatter expands to over {MAX_FRONTMATTER_NODES} values")
    return SplitNote(plain, body, close + 2, ())


def _as_plain_text(text: str, warning: str) -> SplitNote:
    return SplitNote({}, text, 1, (warning + "; the whole file is indexed as plain text",))


def _to_plain(value: Any, budget: list[int]) -> Any:
    """Copy ``value`` into JSON-friendly types, counting nodes against the budget."""
    budget[0] += 1
    if budget[0] > MAX_FRONTMATTER_NODES:
        raise _TooManyNodes
    if isinstance(value, dict):
        return {_plain_key(k): _to_plain(v, budget) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_to_plain(v, budget) for v in value]
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, bytes):  # YAML !!binary
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value != value:  # NaN is not valid JSON
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _plain_key(key: Any) -> str:
    if isinstance(key, dt.date):
        return key.isoformat()
    if isinstance(key, bool) or key is None:
        return str(key).lower() if key is not None else "null"
    return str(key)


def frontmatter_title(data: dict[str, Any]) -> str | None:
    """The ``title`` value when it is a non-empty scalar, else None."""
    value = data.get("title")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        title = " ".join(str(value).split())
        return title or None
    return None


def normalise_tag(raw: str) -> str:
    """``#Project/Alpha`` -> ``project/alpha``: no leading '#', trimmed, lower case.

    Tags are compared case-insensitively (as in Obsidian), so one spelling is
    stored and filters match however the user typed it.
    """
    return raw.strip().lstrip("#").strip().lower()


def frontmatter_tags(data: dict[str, Any]) -> list[str]:
    """Tags from ``tags`` (or ``tag``): a YAML list, or a string split on commas and spaces."""
    value = data.get("tags", data.get("tag"))
    if isinstance(value, str):
        items: list[Any] = _TAG_SPLIT.split(value)
    elif isinstance(value, list):
        items = value
    else:
        return []
    tags = []
    for item in items:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            tag = normalise_tag(str(item))
            if tag:
                tags.append(tag)
    return tags


def frontmatter_dates(data: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """ISO dates from the date-like keys (see ``DATE_KEYS``), plus a warning for each unreadable one.

    The first key met wins for each name, so ``updated`` is not overwritten by a later ``modified``.
    """
    dates: dict[str, str] = {}
    warnings: list[str] = []
    for key, value in data.items():
        name = DATE_KEYS.get(key.lower())
        if name is None or name in dates or value in (None, ""):
            continue
        iso = _iso_date(value)
        if iso is None:
            warnings.append(f"frontmatter {key!r} is not a date: {str(value)[:40]!r}")
        else:
            dates[name] = iso
    return dates, warnings


def _iso_date(value: Any) -> str | None:
    """An ISO 8601 string for a date-ish value (already ISO after ``_to_plain``), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        parsed: dt.date = dt.datetime.fromisoformat(text)
        if len(text) == 10:  # date only: keep it a date, not midnight
            parsed = parsed.date()
        return parsed.isoformat()
    except ValueError:
        pass
    for layout in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(text, layout)
        except ValueError:
            continue
        return parsed.date().isoformat() if "%H" not in layout else parsed.isoformat()
    return None


#: ``Note.dates`` names in order of preference for *the* date of a note: the last edit says most
#: about how current a note is, then its own date, then when it was written
NOTE_DATE_PREFERENCE = ("updated", "date", "created")


def note_timestamp(dates: dict[str, Any], mtime: float | None) -> float | None:
    """POSIX time of a note's date: ``updated``, else ``date``, else ``created``, else the file's mtime.

    One rule for everything that asks how old a note is (the recency boost, the
    ``after``/``before`` filters, the value stored at index time), so they never
    disagree. A date without a time is its midnight, and a time without a zone is
    UTC; an unreadable value is passed over for the next one. None when there is
    no date at all (no frontmatter date and no mtime).
    """
    for key in NOTE_DATE_PREFERENCE:
        value = dates.get(key)
        if not value:
            continue
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.timestamp()
    return float(mtime) if mtime else None
