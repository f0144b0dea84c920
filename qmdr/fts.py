"""Turn arbitrary user text into a safe SQLite FTS5 MATCH expression.

FTS5 has its own query language (``AND``/``OR``/``NOT``/``NEAR``, ``"phrases"``,
``col:`` filters, ``*`` prefixes, parentheses), so passing user text straight to
``MATCH`` turns ``C++``, ``don't`` or ``what is NEAR?`` into syntax errors or
into operators nobody meant. Here every whitespace-separated piece of the query
becomes one *quoted string* (embedded ``"`` doubled, the only escape FTS5 has),
and the pieces are joined with an explicit ``OR`` (or ``AND``). Inside quotes
FTS5 treats everything as text and runs it through the table's tokenizer, so a
piece like ``foo-bar`` becomes the phrase "foo bar" and punctuation-only pieces
become empty phrases; we drop those up front. The result never raises an FTS5
syntax error, whatever the input (see the property test in ``tests/qmdr/test_fts.py``).

Why OR by default: agents ask natural-language questions ("how do we retry
failed uploads?"); requiring every word would miss the note that says "retry
uploads". BM25 already ranks chunks that match more (and rarer) terms higher.
"""

from __future__ import annotations

import re
from typing import Literal

#: at most this many distinct terms go into one MATCH: each term costs a posting-list scan, and a query
#: longer than this is a pasted paragraph whose extra words (mostly common ones) only add time, not ranking
MAX_QUERY_TERMS = 32

#: control characters (NUL included) mean nothing to a text query and NUL would truncate it in C;
#: lone surrogates (possible in JSON "\ud800" escapes) cannot even be encoded as UTF-8 for SQLite
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
#: a run of letters or digits in any script, the unit the unicode61 tokenizer indexes
_WORD = re.compile(r"[^\W_]+")

Operator = Literal["OR", "AND"]


def query_pieces(text: str) -> list[str]:
    """The whitespace-separated pieces of ``text`` that hold at least one letter or digit.

    Deduplicated case-insensitively (first spelling wins) and capped at
    ``MAX_QUERY_TERMS`` so one query cannot grow without bound.
    """
    seen: set[str] = set()
    pieces: list[str] = []
    for piece in _CONTROL.sub(" ", text).split():
        if not _WORD.search(piece):
            continue
        key = piece.casefold()
        if key in seen:
            continue
        seen.add(key)
        pieces.append(piece)
        if len(pieces) == MAX_QUERY_TERMS:
            break
    return pieces


def quote(piece: str) -> str:
    """One FTS5 string literal: wrapped in double quotes with inner quotes doubled."""
    return '"' + piece.replace('"', '""') + '"'


def match_query(text: str, operator: Operator = "OR") -> str | None:
    """A MATCH expression for ``text``, or None when it holds no searchable word.

    >>> match_query("C++ AND retry NEAR? ---")
    '"C++" OR "AND" OR "retry" OR "NEAR?"'
    """
    if operator not in ("OR", "AND"):
        raise ValueError(f"operator must be OR or AND, not {operator!r}")
    pieces = query_pieces(text)
    if not pieces:
        return None
    return f" {operator} ".join(quote(piece) for piece in pieces)


def words(text: str) -> list[str]:
    """Lower-cased letter/digit runs of ``text``, in order (used to place snippets)."""
    return _WORD.findall(text.casefold())
