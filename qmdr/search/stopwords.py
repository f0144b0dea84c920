"""English stop words dropped from keyword queries.

Agents and people ask questions ("what are the effects of the wall on the flow?").
With the query words OR-ed (``qmdr.search.keyword_query``), words like ``the``, ``of`` and ``what``
match nearly every chunk: BM25 gives them little weight, but not none, so they
still lift long chunks that repeat them, and each one costs a scan of a posting
list as long as the index. Dropping them from the query (never from the index)
ranks by the words that carry the question.

The list is Lucene's classic English stop set (``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``,
33 words, chosen by Lucene for the same job) plus the question and auxiliary
words that open natural-language questions (``what``, ``how``, ``does``, ``can``...)
and the pronouns found in them. It is deliberately short and generic: nothing
in it comes from a benchmark's vocabulary (see ``benchmarks/README.md``).
Measured on Cranfield (225 queries, ``benchmarks/results/cranfield-tuning.md``):
keyword nDCG@10 0.350 -> 0.362, better on both halves of the query set (odd
ids 0.352 -> 0.367, even 0.348 -> 0.356); Lucene's 33 words alone give 0.352,
a longer 120-word function-word list 0.360.

Only whole query words are dropped, and only when some other word remains: a
query made only of stop words ("to be or not to be") is searched as it is.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Lucene's classic English stop set (33 words)
LUCENE_STOP_WORDS = _word_set("""
a an and are as at be but by for if in into is it no not of on or such that the their then there these
they this to was will with
""")

#: words that open or hold together questions and add nothing to what is asked about
QUESTION_WORDS = _word_set("""
what which who whom whose when where why how do does did doing done can could should would may might must
shall has have had having been being were am its i me my we our you your he him his she her them those
from about any some
""")

#: every word ``match_query`` drops from a keyword query (when something else remains)
STOP_WORDS = LUCENE_STOP_WORDS | QUESTION_WORDS

#: what follows an apostrophe in an English contraction ("what's", "it'll", "they're"): a piece
#: made of a stop word plus one of these is a stop word too
CONTRACTION_TAILS = frozenset({"s", "t", "d", "ll", "re", "ve", "m"})


def is_stop_word(piece: str) -> bool:
    """True when a whitespace-separated query piece is only a stop word (with punctuation or a contraction).

    ``"The"``, ``"the,"``, ``"what's"`` are; ``"C++"``, ``"don't"``, ``"the-art"`` are not.
    """
    runs = _WORD.findall(piece.casefold())
    if not runs or runs[0] not in STOP_WORDS:
        return False
    return all(run in CONTRACTION_TAILS for run in runs[1:])
