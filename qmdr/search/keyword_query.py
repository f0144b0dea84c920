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
syntax error, whatever the input (see the property test in ``tests/qmdr/search/test_fts.py``).

Why OR by default: agents ask natural-language questions ("how do we retry
failed uploads?"); requiring every word would miss the note that says "retry
uploads". BM25 already ranks chunks that match more (and rarer) terms higher.
English stop words (``qmdr.search.stopwords``) are left out of the OR query when some
other word remains: they match nearly every chunk and only add noise and time.

Scripts written without spaces (Chinese, Japanese, Thai, ...): unicode61 makes
a whole run of such characters one token, so the word 東京 inside 東京タワーに行った
is never a token of its own and cannot be found. For those runs
(``unspaced_runs``) the store also keeps a ``trigram`` FTS5 table:
``trigram_query`` turns every run of 3 or more characters into the OR of its
character trigrams (a chunk holding the whole run matches all of them and ranks
first under BM25; one holding part of it still matches). A run of 1-2
characters is shorter than a trigram; ``short_unspaced_runs`` gives those for a
substring scan instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from qmdr.search.stopwords import is_stop_word

#: at most this many distinct terms go into one MATCH: each term costs a posting-list scan, and a query
#: longer than this is a pasted paragraph whose extra words (mostly common ones) only add time, not ranking
MAX_QUERY_TERMS = 32
#: a longer query (a pasted paragraph) is cut to its ``MAX_QUERY_TERMS`` rarest words in the index, chosen
#: among its first this many distinct words: each one costs a document-frequency lookup (~0.1-1 ms)
MAX_RARITY_CANDIDATES = 4 * MAX_QUERY_TERMS

#: control characters (NUL included) mean nothing to a text query and NUL would truncate it in C;
#: lone surrogates (possible in JSON "\ud800" escapes) cannot even be encoded as UTF-8 for SQLite
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
#: a run of letters or digits in any script, the unit the unicode61 tokenizer indexes
_WORD = re.compile(r"[^\W_]+")

#: at most this many distinct trigrams go into one trigram MATCH, for the same reason as MAX_QUERY_TERMS:
#: a CJK sentence of 60 characters gives 58 trigrams, more than enough to rank by
MAX_TRIGRAM_TERMS = 64
#: FTS5's trigram tokenizer indexes runs of exactly this many characters
TRIGRAM_CHARS = 3
#: code point ranges of scripts written without spaces between words (unicode61 would make a whole run
#: one token): Thai, Lao, Myanmar, Khmer, kana, Bopomofo, CJK ideographs (with extensions and
#: compatibility forms), Hangul syllables (particles attach to nouns: 서울에 holds 서울) and halfwidth
#: katakana. The store builds a GLOB class from the same ranges, so Python and SQL agree on what counts.
UNSPACED_RANGES: tuple[tuple[str, str], ...] = (
    ("\u0e00", "\u0eff"),  # Thai, Lao
    ("\u1000", "\u109f"),  # Myanmar
    ("\u1780", "\u17ff"),  # Khmer
    ("\u3040", "\u30ff"),  # Hiragana, Katakana
    ("\u3100", "\u312f"),  # Bopomofo
    ("\u31f0", "\u31ff"),  # Katakana phonetic extensions
    ("\u3400", "\u4dbf"),  # CJK extension A
    ("\u4e00", "\u9fff"),  # CJK unified ideographs
    ("\uac00", "\ud7af"),  # Hangul syllables
    ("\uf900", "\ufaff"),  # CJK compatibility ideographs
    ("\uff66", "\uff9f"),  # halfwidth katakana
    ("\U00020000", "\U0003134f"),  # CJK extensions B-G and compatibility supplement
)
_UNSPACED_CLASS = "".join(f"{low}-{high}" for low, high in UNSPACED_RANGES)
_UNSPACED_RUN = re.compile(f"[{_UNSPACED_CLASS}]+")
#: a GLOB pattern matching any text that holds at least one character of ``UNSPACED_RANGES``
UNSPACED_GLOB = f"*[{_UNSPACED_CLASS}]*"

Operator = Literal["OR", "AND"]


def query_pieces(text: str, skip: Callable[[str], bool] | None = None, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """The whitespace-separated pieces of ``text`` that hold at least one letter or digit.

    Deduplicated case-insensitively (first spelling wins) and capped at
    ``limit`` so one query cannot grow without bound. Pieces for
    which ``skip`` is true are left out before the cap is counted.
    """
    seen: set[str] = set()
    pieces: list[str] = []
    for piece in _CONTROL.sub(" ", text).split():
        if not _WORD.search(piece) or (skip is not None and skip(piece)):
            continue
        key = piece.casefold()
        if key in seen:
            continue
        seen.add(key)
        pieces.append(piece)
        if len(pieces) == limit:
            break
    return pieces


def quote(piece: str) -> str:
    """One FTS5 string literal: wrapped in double quotes with inner quotes doubled."""
    return '"' + piece.replace('"', '""') + '"'


#: how many indexed chunks hold each piece (as a phrase): the index's document frequency
DocumentFrequency = Callable[[list[str]], list[int]]


def keyword_pieces(text: str, frequency: DocumentFrequency | None = None) -> list[str]:
    """``query_pieces`` without English stop words, or with them when nothing else is left.

    A query of only stop words ("to be or not to be", "the who") is still a
    search for those words; any other query is a search for what it is about.
    Given ``frequency``, a query with more than ``MAX_QUERY_TERMS`` pieces keeps
    its rarest ones (``rarest_pieces``) instead of its first ones.
    """
    limit = MAX_RARITY_CANDIDATES if frequency is not None else MAX_QUERY_TERMS
    pieces = query_pieces(text, skip=is_stop_word, limit=limit) or query_pieces(text, limit=limit)
    if frequency is not None and len(pieces) > MAX_QUERY_TERMS:
        return rarest_pieces(pieces, frequency(pieces))
    return pieces[:MAX_QUERY_TERMS]


def rarest_pieces(pieces: list[str], frequencies: list[int], limit: int = MAX_QUERY_TERMS) -> list[str]:
    """The ``limit`` pieces held by the fewest chunks (inverse document frequency: the words that say what
    the query is about), in query order. Pieces no chunk holds cannot match and go last; ties keep query order.
    """
    ranked = sorted(range(len(pieces)), key=lambda i: (frequencies[i] == 0, frequencies[i], i))
    return [pieces[i] for i in sorted(ranked[:limit])]


def match_query(text: str, operator: Operator = "OR", frequency: DocumentFrequency | None = None) -> str | None:
    """A MATCH expression for ``text`` (its ``keyword_pieces``), or None when it holds no searchable word.

    >>> match_query("C++ retry NEAR? ---")
    '"C++" OR "retry" OR "NEAR?"'
    >>> match_query("how do the uploads retry?")
    '"uploads" OR "retry?"'
    """
    return join_pieces(keyword_pieces(text, frequency), operator)


def join_pieces(pieces: list[str], operator: Operator = "OR") -> str | None:
    """The MATCH expression for pieces already chosen (``keyword_pieces``): each quoted, joined by ``operator``."""
    if operator not in ("OR", "AND"):
        raise ValueError(f"operator must be OR or AND, not {operator!r}")
    if not pieces:
        return None
    return f" {operator} ".join(quote(piece) for piece in pieces)


def words(text: str) -> list[str]:
    """Lower-cased letter/digit runs of ``text``, in order (used to place snippets)."""
    return _WORD.findall(text.casefold())


def unspaced_runs(text: str) -> list[str]:
    """Runs of characters from scripts written without spaces (``UNSPACED_RANGES``), first seen first."""
    return list(dict.fromkeys(_UNSPACED_RUN.findall(_CONTROL.sub(" ", text))))


def trigram_query(text: str) -> str | None:
    """A MATCH expression for the trigram table: the OR of every trigram of every unspaced run of 3+ characters.

    None when no run is that long (see ``short_unspaced_runs``).

    >>> trigram_query("東京タワー tower")
    '"東京タ" OR "京タワ" OR "タワー"'
    """
    trigrams: dict[str, None] = {}
    for run in unspaced_runs(text):
        for start in range(len(run) - TRIGRAM_CHARS + 1):
            trigrams[run[start : start + TRIGRAM_CHARS]] = None
            if len(trigrams) == MAX_TRIGRAM_TERMS:
                return " OR ".join(quote(t) for t in trigrams)
    return " OR ".join(quote(t) for t in trigrams) or None


def short_unspaced_runs(text: str) -> list[str]:
    """Unspaced runs too short for a trigram (1-2 characters), capped at ``MAX_QUERY_TERMS``."""
    return [run for run in unspaced_runs(text) if len(run) < TRIGRAM_CHARS][:MAX_QUERY_TERMS]
