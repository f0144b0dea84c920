"""``--where KEY=VALUE``, ``--after`` and ``--before`` of ``qmdr search`` and ``qmdr context``.

A value is read the way the same text would be read in a note's frontmatter
(YAML scalars: ``2`` is a number, ``true`` a boolean, ``"2"`` quoted a string,
``2026-01-01`` the date's ISO string), so ``--where priority=2`` finds
``priority: 2``. Commas separate values any one of which may match
(``--where project=a,b``); a value holding a comma is quoted
(``--where 'title="a, b"'``). Repeating a key adds values to it.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qmdr.cli.common import fail
from qmdr.errors import InvalidQuery

if TYPE_CHECKING:  # the store package imports numpy: a command imports it only when it searches
    from qmdr.store.base import Filters

#: exit code for a usage error (as typer uses for a bad option)
USAGE_ERROR = 2

WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        metavar="KEY=VALUE[,VALUE...]",
        help="only notes whose frontmatter KEY has one of these values (repeatable; all keys must hold)",
    ),
]
AfterOpt = Annotated[
    str | None,
    typer.Option(
        "--after",
        help="only notes dated at or after this ISO date or date-time (updated, else date, else created, "
        "else file time; UTC unless it says)",
    ),
]
BeforeOpt = Annotated[str | None, typer.Option("--before", help="only notes dated before this ISO date or date-time")]


def _scalar(text: str) -> Any:
    """``text`` read as a frontmatter scalar (YAML); anything that is not a scalar stays the text itself."""
    import yaml  # only when --where is given: the keyword search path imports no YAML

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, date):  # frontmatter keeps dates as ISO strings (vault.frontmatter)
        return value.isoformat()
    return value if isinstance(value, str | int | float | bool) else text


def parse_where(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["status=decided", "project=a,b"]`` -> ``{"status": ["decided"], "project": ["a", "b"]}``."""
    where: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidQuery(f"--where: {item!r} is not KEY=VALUE (e.g. status=decided or project=a,b)")
        parts = next(csv.reader([raw], skipinitialspace=True), [])
        values = [part if _quoted(part, raw) else _scalar(part) for part in parts]
        if not values:
            raise InvalidQuery(f"--where: {key.strip()} has no value")
        where.setdefault(key.strip(), []).extend(values)
    return where


def _quoted(part: str, raw: str) -> bool:
    """True when ``part`` was written in double quotes in ``raw``: a string, whatever it looks like."""
    return f'"{part}"' in raw


def cli_filters(
    *,
    path_prefix: str | None = None,
    tags: Sequence[str] = (),
    where: Sequence[str] = (),
    after: str | None = None,
    before: str | None = None,
) -> Filters:
    """The ``Filters`` the options describe, or a one-line usage error naming the option."""
    from qmdr.store.filtering import make_filters

    try:
        return make_filters(path_prefix=path_prefix, tags=tags, where=parse_where(where), after=after, before=before)
    except InvalidQuery as exc:
        message = exc.message if exc.message.startswith("--") else f"--{exc.message}"
        raise fail(message, USAGE_ERROR) from None
