"""Snippets: the window of a result's text that shows why it matched.

A snippet is cut from the chunk's content (``snippet_source``) around the
place holding the most distinct query terms (``make_snippet``). It runs for
every returned result of every search, so it must stay linear in the text:
one pass to find matching words (dictionary lookups per word, not a loop over
terms) and one sliding window over the matches.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from qmdr.search.keyword_query import unspaced_runs, words
from vault import split_context_line
from vault.markdown import parse_heading

#: characters of chunk text shown as the snippet: about two lines in a terminal or a result card
SNIPPET_CHARS = 240
#: the snippet window starts this many characters before the first matched term, for context
SNIPPET_LEAD_CHARS = 40
#: query words too common to place a snippet by (they match everywhere)
SNIPPET_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "that",
        "the",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)
#: a query word matches a text word sharing this many leading characters (a crude stemmer: retry/retries)
SNIPPET_STEM_CHARS = 5
#: a stem shorter than this would match too much ("in" -> "index"): such terms match whole words only
MIN_STEM_CHARS = 3

ELLIPSIS = "…"


class ChunkLike(Protocol):
    """What a snippet needs of a hit or a result."""

    text: str
    title: str
    heading_trail: tuple[str, ...] | list[str]


def snippet_terms(query: str) -> list[str]:
    """The query words worth placing a snippet by: no stopwords, no single letters."""
    return [w for w in dict.fromkeys(words(query)) if len(w) > 1 and w not in SNIPPET_STOPWORDS]


class _TermMatcher:
    """Which query term (the first, in query order) a text word matches: equal, or sharing its stem.

    ``pattern`` finds the candidate words in one C-level scan (words starting
    with a stem, or equal to a term too short to have one), so Python only
    looks at the few words that may match, not at every word of the text.
    """

    def __init__(self, terms: Sequence[str]) -> None:
        self.terms = list(terms)
        self.exact: dict[str, int] = {}
        self.stems: dict[str, int] = {}
        for index, term in enumerate(self.terms):
            self.exact.setdefault(term, index)
            stem = min(len(term), SNIPPET_STEM_CHARS)
            if stem >= MIN_STEM_CHARS:
                self.stems.setdefault(term[:stem], index)
        self.stem_lengths = sorted({len(stem) for stem in self.stems})
        starts = "|".join(re.escape(stem) for stem in sorted(self.stems, key=len, reverse=True))
        whole = "|".join(re.escape(term) for term in sorted(self.exact, key=len, reverse=True))
        alternatives = [f"(?:{starts})[^\\W_]*" if starts else "", f"(?:{whole})(?![^\\W_])" if whole else ""]
        body = "|".join(a for a in alternatives if a)
        self.pattern = re.compile(f"(?<![^\\W_])(?:{body})", re.IGNORECASE) if body else None

    def match(self, word: str) -> str | None:
        best = self.exact.get(word, len(self.terms))
        for n in self.stem_lengths:
            index = self.stems.get(word[:n]) if len(word) >= n else None
            if index is not None and index < best:
                best = index
        return self.terms[best] if best < len(self.terms) else None


def _term_hits(flat: str, terms: Sequence[str]) -> list[tuple[int, str]]:
    """(position, term) of every word of ``flat`` matching a query term, in text order."""
    matcher = _TermMatcher(terms)
    hits: list[tuple[int, str]] = []
    if matcher.pattern is not None:
        for found in matcher.pattern.finditer(flat):  # each candidate is a whole word (see the pattern)
            term = matcher.match(found.group().casefold())
            if term is not None:
                hits.append((found.start(), term))
    for term in terms:  # a word of a script without spaces sits inside a longer run: find it as a substring
        if unspaced_runs(term):
            hits.extend((found.start(), term) for found in re.finditer(re.escape(term), flat))
    hits.sort()
    return hits


def _best_window_start(hits: Sequence[tuple[int, str]], width: int) -> int:
    """Where the first window of ``width`` characters with the most distinct terms starts.

    Each candidate window opens ``SNIPPET_LEAD_CHARS`` before a hit; candidates
    move only forward, so two pointers over the sorted hits keep a count of the
    terms inside the current window.
    """
    inside: Counter[str] = Counter()
    left = right = 0
    best, start = 0, 0
    for position, _ in hits:
        window_start = max(0, position - SNIPPET_LEAD_CHARS)
        while right < len(hits) and hits[right][0] < window_start + width:
            inside[hits[right][1]] += 1
            right += 1
        while left < right and hits[left][0] < window_start:
            inside[hits[left][1]] -= 1
            if not inside[hits[left][1]]:
                del inside[hits[left][1]]
            left += 1
        if len(inside) > best:
            best, start = len(inside), window_start
    return start


def make_snippet(text: str, terms: Sequence[str], width: int = SNIPPET_CHARS) -> str:
    """A window of about ``width`` characters of ``text`` holding the most distinct query terms.

    Whitespace is collapsed; cuts fall on word boundaries and are marked with
    an ellipsis. With no term in the text, the text's beginning is shown.
    Terms in scripts written without spaces (Chinese, Japanese, Thai, ...)
    are found anywhere inside a word, since a whole run is one "word" there.
    """
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    start = _best_window_start(_term_hits(flat, terms), width)
    end = min(len(flat), start + width)
    if end == len(flat):
        start = max(0, end - width)
    if start > 0:
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < start + SNIPPET_LEAD_CHARS else start
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start else end
    return (ELLIPSIS if start > 0 else "") + flat[start:end].strip() + (ELLIPSIS if end < len(flat) else "")


def snippet_source(hit: ChunkLike) -> str:
    """The part of a chunk a snippet is cut from: its content, without what the result shows apart.

    The chunker's context line (title > headings) is there for the embedder
    and the keyword index, and the heading lines that open a section repeat
    the trail; results show the title and heading trail on their own. So both
    go: the context line, then leading ``#`` lines whose text is in the trail.
    A chunk holding nothing else keeps its text.
    """
    _, content = split_context_line(hit.text, hit.title, hit.heading_trail)
    lines = content.split("\n")
    shown = {*hit.heading_trail, hit.title}
    start = 0
    while start < len(lines):
        heading = parse_heading(lines[start])
        if lines[start].strip() and (heading is None or heading[1] not in shown):
            break
        start += 1
    body = "\n".join(lines[start:])
    return body if body.strip() else hit.text
