"""An in-memory copy of ``chunks_fts`` that ranks exactly as FTS5's ``bm25()`` without scoring every match.

Why: FTS5 computes ``bm25()`` for every row that matches any query term and
only then sorts, so a question holding a common word (the median query of a
10k-chunk Zipfian corpus matches 9,999 chunks) costs milliseconds of
per-row callbacks, 25x the CPU of tantivy (``benchmarks/keyword_vs_tantivy.py``).
A long-lived process (the server) keeps this index beside the vector
snapshot: postings read once from FTS5's own inverted index (the ``fts5vocab``
instance view, so the tokens are exactly FTS5's), with each posting's BM25
*impact* (its term's IDF times its saturated, length-normalised frequency)
computed at build time. A query is then a scatter-add of a few impact arrays
into one score array (numpy), and a top-k selection.

Same answers as FTS5: the impact of a posting is computed with the very
formula and operation order of FTS5's ``fts5Bm25Function`` (``k1 = 1.2``,
``b = 0.75``, IDF ``log((N - n + 0.5) / (n + 0.5))`` floored at ``1e-6``,
frequency = the column-weighted count of the term's instances, document length
= all tokens of the row, average over all rows), and a chunk's score adds its
phrases' impacts in query order, as FTS5 does, so scores agree to the last bit
on this machine and ties are broken by chunk id as ``ORDER BY score DESC,
rowid`` does. A query piece that is a phrase of several tokens (``foo-bar``,
``don't``) needs positions, which this index does not keep: the store asks
FTS5 for that phrase alone (rare, and a phrase matches few chunks), whose
per-chunk score is exactly what the phrase adds to the OR query's.

It describes one committed state (``generation``): the store uses it only for a
read transaction of that same generation and rebuilds it in the background
after a change, with FTS5 answering meanwhile.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import apsw
import numpy as np

#: FTS5's bm25 constants (fts5_aux.c): term-frequency saturation and length normalisation
BM25_K1 = 1.2
BM25_B = 0.75
#: FTS5 floors a non-positive IDF (a term in more than half the rows) at this
MIN_IDF = 1e-6
#: the FTS5 table this mirrors, its columns in order, and the tokenizer it was made with (``SCHEMA``)
FTS_TABLE = "chunks_fts"
FTS_COLUMNS = ("title", "headings", "body")
TOKENIZER = ("porter", ["unicode61", "remove_diacritics", "2"])
#: at most this many postings (term x chunk pairs; about 90 per 130-word chunk) are held in memory,
#: 12 bytes each: 240 MB and ~15 s of build CPU at the limit; a larger vault is ranked by FTS5 alone
MAX_POSTINGS = 20_000_000

#: top-k selection runs over every score when at least 1 in this many chunks matched, else over the matched
#: ones only: numpy's argpartition slows 10-20x on an array mostly of zeros, and gathering the matched
#: ones first costs more than it saves when most chunks match (measured at 10k and 100k)
MATCHED_SHARE_TO_SELECT_AMONG_ALL = 4

#: (chunk ids, scores) FTS5 gave one phrase of several terms, asked alone: what it adds to each chunk
PhraseScores = tuple[np.ndarray, np.ndarray]


def _idf(hits: np.ndarray, rows: int) -> np.ndarray:
    """FTS5's IDF for terms held by ``hits`` of ``rows`` rows, floored at ``MIN_IDF``.

    Through ``math.log`` (the C library's ``log``, as FTS5 calls it), not ``np.log``:
    numpy's vectorised log can differ in the last bit, which changed one score of
    300 queries at 100k chunks. Computed once per distinct count (a few thousand).
    """
    counts, which = np.unique(hits, return_inverse=True)
    values = np.array([math.log((rows - int(n) + 0.5) / (int(n) + 0.5)) for n in counts], np.float64)
    values[values <= 0.0] = MIN_IDF
    return values[which]


#: one read of FTS5's instances covers terms with at most this many instances together: its text (about 8
#: bytes an instance) and arrays stay tens of MB whatever the vault's size
READ_BATCH_INSTANCES = 4_000_000

#: what a postings read gives: term -> index, each term's first posting, and four columns with one entry per
#: posting (term x chunk): the chunk's rowid, the term's instances in its title, in its headings, in all columns
Postings = tuple[dict[str, int], np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def _read_postings(conn: apsw.Connection, instances: str, term_rows: str) -> Postings | None:
    """Every posting, read as one integer per instance and grouped by numpy (5x faster than SQL's GROUP BY).

    FTS5 lists its instances by term, then chunk, then column; each term's
    instance and chunk counts (the ``row`` view) cut the stream. The stream is
    checked against those counts and that order; None if it does not hold.
    """
    terms_listed = conn.execute(f"SELECT term, doc, cnt FROM {term_rows}").fetchall()  # noqa: S608 (constants)
    terms = {row[0]: i for i, row in enumerate(terms_listed)}
    chunks_of_term = np.fromiter((row[1] for row in terms_listed), np.int64, len(terms_listed))
    instances_of_term = np.fromiter((row[2] for row in terms_listed), np.int64, len(terms_listed))
    if len(terms) != len(terms_listed):
        return None
    codes = f"doc * 4 + (col = '{FTS_COLUMNS[0]}') + 2 * (col = '{FTS_COLUMNS[1]}')"
    parts: list[tuple[np.ndarray, ...]] = []
    first = 0
    while first < len(terms_listed):
        last = first + max(1, int(np.searchsorted(np.cumsum(instances_of_term[first:]), READ_BATCH_INSTANCES, "right")))
        text = conn.execute(
            f"SELECT group_concat({codes}, ' ') FROM {instances} WHERE term >= ? AND term <= ?",  # noqa: S608
            (terms_listed[first][0], terms_listed[last - 1][0]),
        ).fetchone()[0]
        part = _group_instances(np.fromstring(text or "", dtype=np.int64, sep=" "), first, last, instances_of_term)
        if part is None or not np.array_equal(np.bincount(part[1], minlength=last - first), chunks_of_term[first:last]):
            return None
        parts.append(part[0])
        first = last
    columns = tuple(np.concatenate([part[i] for part in parts]) if parts else np.zeros(0, np.int64) for i in range(4))
    return terms, np.concatenate([[0], np.cumsum(chunks_of_term)]).astype(np.int64), columns  # type: ignore[return-value]


def _group_instances(
    codes: np.ndarray, first: int, last: int, instances_of_term: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray] | None:
    """The postings columns of terms ``first``..``last`` from their instance codes (chunk * 4 + column: 1 title,
    2 headings, 0 body), with each row's term (counted from ``first``); None if the stream is out of order."""
    counts = instances_of_term[first:last]
    if len(codes) != int(counts.sum()):
        return None
    term = np.repeat(np.arange(last - first), counts)
    chunk, column = codes >> 2, codes & 3
    same_term = term[1:] == term[:-1]
    if np.any(same_term & (chunk[1:] < chunk[:-1])):
        return None
    starts = np.flatnonzero(np.concatenate([[True], ~same_term | (chunk[1:] != chunk[:-1])]))
    every = np.diff(np.append(starts, len(codes)))
    title = np.add.reduceat((column == 1).astype(np.int64), starts) if len(starts) else starts
    headings = np.add.reduceat((column == 2).astype(np.int64), starts) if len(starts) else starts  # noqa: PLR2004
    return (chunk[starts], title, headings, every), term[starts]


def _group_postings(conn: apsw.Connection, instances: str) -> Postings:
    """Every posting, grouped by SQL: one row per term, its postings as text parsed by numpy in C."""
    terms: dict[str, int] = {}
    runs: list[np.ndarray] = []
    for term, text in conn.execute(
        "SELECT term, group_concat(doc || ' ' || t || ' ' || h || ' ' || n, ' ' ORDER BY doc) FROM"  # noqa: S608
        f" (SELECT term, doc, sum(col = '{FTS_COLUMNS[0]}') t, sum(col = '{FTS_COLUMNS[1]}') h, count(*) n"
        f" FROM {instances} GROUP BY term, doc) GROUP BY term ORDER BY term"
    ):
        terms[term] = len(terms)
        runs.append(np.fromstring(text, dtype=np.int64, sep=" ").reshape(-1, 4))
    table = np.concatenate(runs) if runs else np.zeros((0, 4), np.int64)
    starts = np.concatenate([[0], np.cumsum([len(run) for run in runs], dtype=np.int64)]).astype(np.int64)
    return terms, starts, (table[:, 0], table[:, 1], table[:, 2], table[:, 3])


class QueryTokenizer:
    """FTS5's own tokenizer (through apsw), so a query word becomes exactly the term FTS5 indexed.

    One private in-memory connection, used under a lock: tokenizing a query
    takes microseconds, and an apsw tokenizer belongs to one connection.
    """

    def __init__(self) -> None:
        self._conn = apsw.Connection(":memory:")
        self._tokenize = self._conn.fts5_tokenizer(TOKENIZER[0], TOKENIZER[1])
        self._lock = threading.Lock()

    def terms(self, piece: str) -> list[str]:
        """The indexed terms of one query piece, in order (several for ``foo-bar``, none for ``---``)."""
        with self._lock:
            tokens = self._tokenize(piece.encode(), apsw.FTS5_TOKENIZE_QUERY, None)
        return [token[2] for token in tokens]


@dataclass(frozen=True, eq=False)
class KeywordIndex:
    """BM25 impacts of one committed state of ``chunks_fts``, in compressed-sparse-row form.

    ``chunk_ids[d]`` is the chunk id of document ``d`` (ascending); the postings
    of term ``t`` are ``docs[starts[t]:starts[t + 1]]`` with their impacts
    ``impacts[...]`` (float64: the value FTS5 would add for that phrase).
    """

    generation: int
    chunk_ids: np.ndarray
    terms: dict[str, int]
    starts: np.ndarray
    docs: np.ndarray
    impacts: np.ndarray

    @property
    def postings(self) -> int:
        return int(self.docs.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (the term dictionary's strings aside)."""
        return sum(array.nbytes for array in (self.chunk_ids, self.starts, self.docs, self.impacts))

    def __len__(self) -> int:
        return int(self.chunk_ids.shape[0])

    @classmethod
    def build(cls, conn: apsw.Connection, generation: int, weights: Sequence[float]) -> KeywordIndex | None:
        """Read ``chunks_fts`` through ``conn`` (in a read transaction, left open) into an index.

        None when the table holds more than ``MAX_POSTINGS`` postings (FTS5 then
        ranks alone). ``weights`` are the per-column bm25 weights the store uses.
        """
        instances, term_rows = f"temp.{FTS_TABLE}_instances", f"temp.{FTS_TABLE}_terms"
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {instances} USING fts5vocab(main, {FTS_TABLE}, instance)")
        conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {term_rows} USING fts5vocab(main, {FTS_TABLE}, row)")
        postings = conn.execute(f"SELECT coalesce(sum(doc), 0) FROM {term_rows}").fetchone()[0]  # noqa: S608
        if postings > MAX_POSTINGS:
            return None
        chunk_ids = np.fromiter((row[0] for row in conn.execute("SELECT id FROM chunks ORDER BY id")), np.int64)
        read = _read_postings(conn, instances, term_rows)
        if read is None:  # FTS5 listed its instances in an order this reader does not expect: group in SQL
            read = _group_postings(conn, instances)
        terms, starts, (chunk_rowids, title, headings, every) = read
        docs = np.searchsorted(chunk_ids, chunk_rowids).astype(np.int32)
        # FTS5 adds a column's weight per instance; with whole-number weights (ours) the products are exact
        frequency = (
            title * float(weights[0]) + headings * float(weights[1]) + (every - title - headings) * float(weights[2])
        )
        n_rows = len(chunk_ids)
        # document length = every token of the row (xColumnSize(-1)); average over all rows (xColumnTotalSize)
        lengths = np.bincount(docs, weights=every, minlength=n_rows).astype(np.float64)
        average = float(lengths.sum()) / n_rows if n_rows else 1.0
        idf = _idf(np.diff(starts), n_rows)
        # the operations of fts5Bm25Function, in its order, so each impact is the double FTS5 adds
        length_part = BM25_K1 * ((1 - BM25_B) + BM25_B * lengths[docs] / average)
        impacts = np.repeat(idf, np.diff(starts)) * ((frequency * (BM25_K1 + 1.0)) / (frequency + length_part))
        return cls(generation, chunk_ids, terms, starts, docs, impacts)

    def term_postings(self, term: str) -> int:
        """How many chunks hold ``term`` (its document frequency)."""
        index = self.terms.get(term)
        return 0 if index is None else int(self.starts[index + 1] - self.starts[index])

    def rank(
        self, phrases: Sequence[str | PhraseScores], k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The best ``k`` (chunk id, score) for the OR of ``phrases``, best first; ties by chunk id.

        A phrase is one indexed term, or the scores FTS5 gave a phrase of several
        terms on its own (``PhraseScores``: each is exactly what that phrase adds
        to an OR query's score). A phrase may repeat (two query pieces with one
        stem): FTS5 counts each phrase, and so does this, adding them in query
        order as it does. ``allowed`` (a boolean mask over documents) keeps only
        the chunks a filter passes.
        """
        if k <= 0 or not len(self):
            return []
        scores = np.zeros(len(self), np.float64)
        for phrase in phrases:
            if isinstance(phrase, str):
                index = self.terms.get(phrase)
                if index is not None:
                    start, end = self.starts[index], self.starts[index + 1]
                    scores[self.docs[start:end]] += self.impacts[start:end]
            elif len(phrase[0]):
                scores[np.searchsorted(self.chunk_ids, phrase[0])] += phrase[1]
        if allowed is not None:
            scores[~allowed] = 0.0
        return self._top(scores, k)

    def _top(self, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Matched documents (score > 0: every impact is) ordered by score desc, chunk id asc; first ``k``.

        Every tie with the k-th score is kept into the final sort, so chunk ids break ties.
        """
        matched = int(np.count_nonzero(scores))
        if k >= matched:
            selected = np.flatnonzero(scores)
        elif matched * MATCHED_SHARE_TO_SELECT_AMONG_ALL >= len(scores):  # most chunks matched
            kth = scores[np.argpartition(scores, len(scores) - k)[len(scores) - k]]
            selected = np.flatnonzero(scores >= kth)
        else:  # a query of rare words: select among the matched chunks only
            selected = np.flatnonzero(scores)
            found = scores[selected]
            selected = selected[found >= found[np.argpartition(found, matched - k)[matched - k]]]
        order = np.lexsort((self.chunk_ids[selected], -scores[selected]))[:k]
        picked = selected[order]
        return [(int(i), float(s)) for i, s in zip(self.chunk_ids[picked], scores[picked], strict=True)]

    def allowed(self, chunk_ids: np.ndarray) -> np.ndarray:
        """A document mask holding the given chunk ids (those a filter passes)."""
        mask = np.zeros(len(self), bool)
        if len(chunk_ids):
            where = np.searchsorted(self.chunk_ids, chunk_ids)
            inside = where < len(self)
            where, wanted = where[inside], chunk_ids[inside]
            mask[where[self.chunk_ids[where] == wanted]] = True
        return mask
