"""How long a query may be, and the default relevance floors: one place, read by search, the HTTP API,
the CLI and the dashboard.

A module of constants only, so the API schemas and the CLI can import it
without pulling in numpy and the search stack.
"""

from __future__ import annotations

#: characters in one query. Agents paste context (a stack trace, a paragraph of a note, an issue) and
#: search with it, so the limit is far above a typed question: 16,000 characters is ~4,000 tokens of
#: English, a few pages. Beyond that a request is a document to index, not a query. The keyword side
#: keeps the query's rarest words (``qmdr.search.keyword_query.MAX_QUERY_TERMS``) and the embedding its
#: first ``MAX_EMBED_QUERY_CHARS``.
MAX_QUERY_CHARS = 16_000
#: characters of a query sent to the embedder. The embedded MiniLM reads its first 256 wordpieces and
#: ignores the rest, as it was trained; remote models refuse inputs past their limit instead (OpenAI's is
#: 8,191 tokens), so the query is cut here first: 8,000 characters stay under 8,191 tokens even for
#: text of one token per character
MAX_EMBED_QUERY_CHARS = 8_000
#: results under this relevance (percent, ``qmdr.search.relevance``) are left out of ``context`` unless the
#: caller says otherwise. On Cranfield it drops 87% of results about another question and 8% of the
#: judged-relevant hybrid results (those ranked low); in a vault holding nothing about the question, the
#: best hit (rank 1, no query word, unrelated embedding) scores ~6%
DEFAULT_CONTEXT_MIN_RELEVANCE = 10.0
#: ``search`` drops nothing unless asked: a caller asking for k results sees k, each with its relevance
DEFAULT_SEARCH_MIN_RELEVANCE = 0.0
