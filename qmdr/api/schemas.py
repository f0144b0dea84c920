"""Request and response models of the HTTP API (they feed the OpenAPI docs at /docs).

Boolean request fields are ``StrictBool``: the schema says boolean, so ``"yes"``,
``1`` or ``"false"`` are refused (422) rather than guessed at.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, field_validator, model_validator

from qmdr.search.limits import DEFAULT_CONTEXT_MIN_RELEVANCE, DEFAULT_SEARCH_MIN_RELEVANCE, MAX_QUERY_CHARS
from qmdr.store.base import Filters
from qmdr.store.filtering import date_bound, make_filters, where_terms

#: results per search; beyond this agents should page with filters, and rerank cost grows linearly
MAX_K = 100

SearchMode = Literal["keyword", "vector", "hybrid"]


#: longest ``after``/``before`` value: an ISO 8601 date-time with fractions and a zone is ~32 characters
MAX_DATE_CHARS = 64


class FilterFields(BaseModel):
    """Which notes a search (or context block) may draw from; every condition given must hold.

    Applied inside each retriever before ``k`` is cut, so a filter that ``k``
    chunks pass returns ``k`` results (``qmdr.store.filtering`` has the rules).
    """

    path_prefix: str | None = Field(None, max_length=1000, description="only notes under this path")
    tags: list[str] = Field(default_factory=list, max_length=20, description="only notes carrying all these tags")
    where: dict[str, Any] | None = Field(
        None,
        description='frontmatter fields: {"status": "decided", "project": ["a", "b"]}. A value means equal '
        'to it, a list any of them ({"$eq": v} and {"$in": [...]} spell the same); strings (exact), numbers, '
        "booleans; a frontmatter list matches when any element does; all keys must hold",
        examples=[{"status": "decided", "project": ["a", "b"]}],
    )
    after: str | None = Field(
        None,
        max_length=MAX_DATE_CHARS,
        description="only notes dated at or after this ISO 8601 date or date-time (naive "
        "means UTC); a note's date is updated, else date, else created, else its file's "
        "mtime",
        examples=["2026-01-01"],
    )
    before: str | None = Field(
        None,
        max_length=MAX_DATE_CHARS,
        description="only notes dated before this ISO 8601 date or date-time (exclusive)",
        examples=["2026-02-01T00:00:00Z"],
    )

    @field_validator("where")
    @classmethod
    def _valid_where(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        where_terms(value)  # InvalidQuery (a ValueError) names the key: a 422 on ``where``
        return value

    @field_validator("after", "before")
    @classmethod
    def _iso_date(cls, value: str | None, info: Any) -> str | None:
        date_bound(info.field_name, value)
        return value

    @model_validator(mode="after")
    def _ordered_dates(self) -> FilterFields:
        self.filters()  # before must be later than after
        return self

    def filters(self) -> Filters:
        return make_filters(
            path_prefix=self.path_prefix, tags=self.tags, where=self.where, after=self.after, before=self.before
        )


class SearchRequest(FilterFields):
    """A memory search."""

    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for")
    mode: SearchMode = Field("hybrid", description="keyword (BM25), vector (embeddings) or hybrid (both, fused)")
    k: int = Field(10, ge=1, le=MAX_K, description="number of results")
    rerank: StrictBool | None = Field(None, description="LLM rerank (default: on when a rerank provider is configured)")
    expand: StrictBool = Field(False, description="also search LLM-written alternative phrasings (fused by RRF)")
    include_superseded: StrictBool = Field(False, description="also notes whose frontmatter has superseded_by")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must contain something other than whitespace")
        return value


class SearchHit(BaseModel):
    path: str
    title: str
    heading_trail: list[str]
    start_line: int
    end_line: int
    snippet: str
    score: float
    ranks: dict[str, int | None]
    scores: dict[str, float]
    tags: list[str] = Field(default_factory=list)


class SearchResponseModel(BaseModel):
    query: str
    mode: SearchMode
    results: list[SearchHit]
    timings_ms: dict[str, float]
    reranked: bool
    warnings: list[str] = Field(default_factory=list)


class ReindexRequest(BaseModel):
    vault: str | None = Field(
        None, max_length=4096, description="a vault's folder; default: the default vault's folder"
    )
    rebuild: StrictBool = Field(
        False, description="drop all vectors and re-embed (needed after an embedding model change)"
    )
    allow_empty: StrictBool = Field(False, description="index a folder without notes even if that empties the index")


class JobStatusModel(BaseModel):
    state: Literal["idle", "running", "done", "failed"]
    vault: str | None = Field(None, description="the folder being indexed")
    name: str | None = Field(None, description="the vault it is indexed into")
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, Any] = Field(default_factory=dict)
    summary: dict[str, Any] | None = None
    error: str | None = None


class ChunkModel(BaseModel):
    ordinal: int
    heading_trail: list[str]
    start_line: int
    end_line: int
    text: str


class NoteModel(BaseModel):
    path: str
    title: str
    tags: list[str]
    frontmatter: dict[str, Any]
    links: list[str]
    chunks: list[ChunkModel]


class HealthModel(BaseModel):
    status: Literal["ok"]
    version: str
    store: str
    embedding: dict[str, Any]
    rerank: dict[str, Any]
    index: dict[str, Any]


class ErrorModel(BaseModel):
    error: str
    detail: str


# --- agent memory: vaults, notes, context, feedback (qmdr.memory.hub, qmdr.memory.notes_write, qmdr.memory.context) ---
#: the longest note path an agent may name: deeper trees are a mistake, and paths end up in URLs
MAX_NOTE_PATH_CHARS = 1000
#: largest note body accepted in one write (the app also caps whole request bodies)
MAX_NOTE_CHARS = 1_000_000
#: most vaults one search may name; more is "all" (omit the field)
MAX_VAULTS_PER_SEARCH = 50


class VaultCreate(BaseModel):
    """Register a folder as a named vault (and index it)."""

    name: str = Field(
        ..., pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="slug: lower-case letters, digits, - and _"
    )
    folder: str = Field(..., max_length=4096, description="the vault folder on the server")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="description, chunk_tokens, chunk_overlap, max_note_bytes, writable"
    )
    index: StrictBool = Field(True, description="index the folder before answering")


class VaultModel(BaseModel):
    name: str
    folder: str
    settings: dict[str, Any]
    created_at: float = 0.0
    index: dict[str, Any] = Field(default_factory=dict, description="notes, chunks, vectors, model, last_reindex")


class VaultList(BaseModel):
    vaults: list[VaultModel]


class VaultReindexRequest(BaseModel):
    rebuild: StrictBool = Field(False, description="drop all vectors and re-embed")
    allow_empty: StrictBool = Field(False, description="index a folder without notes even if that empties the index")
    background: StrictBool = Field(False, description="answer 202 at once; GET /reindex/status follows the job")


class IndexSummaryModel(BaseModel):
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    embedded: int = 0
    chunks: int = 0
    seconds: float = 0.0


class MemorySearchRequest(SearchRequest):
    """A search over one, several or all vaults."""

    vaults: list[str] | None = Field(
        None, max_length=MAX_VAULTS_PER_SEARCH, description="vault names; omitted or [] means every vault"
    )
    group_by_note: StrictBool = Field(False, description="one best chunk per note instead of every matching chunk")
    explain: StrictBool = Field(False, description="report each stage's contribution per result")
    min_relevance: float = Field(
        DEFAULT_SEARCH_MIN_RELEVANCE, ge=0, le=100, description="leave out results whose relevance (percent) is lower"
    )


class MemoryHitModel(SearchHit):
    vault: str
    relevance: float = Field(
        ...,
        description="0-100: calibrated chance the result is relevant, the same scale "
        "in every vault (qmdr.search.relevance)",
    )
    chunk_hash: str = ""
    explain: dict[str, Any] | None = None


class MemorySearchResponse(BaseModel):
    query: str
    vaults: list[str]
    results: list[MemoryHitModel]
    timings_ms: dict[str, float]
    reranked: bool = False
    warnings: list[str] = Field(default_factory=list)


class NoteWrite(BaseModel):
    """Create or update a note: frontmatter is merged (null deletes a key), the body replaced or appended."""

    path: str = Field(
        ..., min_length=1, max_length=MAX_NOTE_PATH_CHARS, description="vault-relative; .md added if missing"
    )
    content: str | None = Field(None, max_length=MAX_NOTE_CHARS, description="markdown body (may carry frontmatter)")
    frontmatter: dict[str, Any] = Field(default_factory=dict, description="keys to set; null removes a key")
    append: StrictBool = Field(False, description="append content to the existing body instead of replacing it")
    supersedes: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_NOTE_PATH_CHARS,
        description="path of a note this one replaces: it gets superseded_by and "
        "drops out of search and context (include_superseded brings it back)",
    )
    on_duplicate: Literal["write", "skip", "merge"] = Field(
        "write",
        description="when the text nearly duplicates stored chunks (see similar): write anyway, "
        "skip the write, or merge (append) into the most similar note",
    )


class ImportResult(BaseModel):
    vault: str
    source: Literal["chatgpt", "claude"]
    conversations: int = Field(..., description="conversations in the export")
    written: list[str] = Field(..., description="notes created or changed")
    unchanged: list[str] = Field(..., description="notes already holding the same conversation")
    skipped_empty: list[str] = Field(..., description="ids of conversations without a message")
    index: IndexSummaryModel


class SimilarChunk(BaseModel):
    path: str
    lines: list[int] = Field(..., description="[start_line, end_line] of the stored chunk")
    similarity: float = Field(..., description="cosine similarity, >= QMDR_DUPLICATE_THRESHOLD")


class NoteWriteResult(BaseModel):
    vault: str
    path: str
    created: bool
    deleted: bool
    index: IndexSummaryModel
    action: Literal["written", "merged", "skipped", "deleted"] = "written"
    similar: list[SimilarChunk] = Field(
        default_factory=list, description="stored chunks the written text nearly duplicates"
    )
    superseded: str | None = Field(None, description="the note marked superseded_by this one")


class ContextRequest(FilterFields):
    """Ask for a ready-to-paste memory block (the filters apply to the searches behind it)."""

    query: str | None = Field(None, max_length=MAX_QUERY_CHARS, description="one query (or use queries)")
    queries: list[str] = Field(default_factory=list, max_length=8, description="several queries, fused")
    budget: int | None = Field(None, ge=64, le=100_000, description="token budget (default QMDR_CONTEXT_TOKENS)")
    profile: Literal["brief", "balanced", "deep"] = Field("balanced", description="how the budget is filled")
    vaults: list[str] | None = Field(None, max_length=MAX_VAULTS_PER_SEARCH, description="vault names; omitted = all")
    mode: SearchMode = Field("hybrid", description="retrieval mode of the searches behind the block")
    since: datetime | None = Field(
        None,
        description="only notes changed after this ISO 8601 date or date-time "
        "(naive means UTC); without a query the block is what changed, newest first",
    )
    include_superseded: StrictBool = Field(False, description="also notes whose frontmatter has superseded_by")
    min_relevance: float = Field(
        DEFAULT_CONTEXT_MIN_RELEVANCE, ge=0, le=100, description="leave out hits whose relevance (percent) is lower"
    )

    def all_queries(self) -> list[str]:
        return [q for q in ([self.query] if self.query else []) + list(self.queries) if q.strip()]


class ContextEntryModel(BaseModel):
    vault: str
    path: str
    title: str
    heading: str
    relevance: float | None
    chunk_hash: str
    start_line: int
    end_line: int
    kind: Literal["hit", "linked", "changed"]
    via: str | None = None


class ContextResponse(BaseModel):
    markdown: str
    tokens: int
    budget: int
    profile: str
    entries: list[ContextEntryModel]
    warnings: list[str] = Field(default_factory=list)


class FeedbackRequest(BaseModel):
    vault: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    path: str = Field(..., min_length=1, max_length=MAX_NOTE_PATH_CHARS)
    useful: StrictBool
    query: str | None = Field(None, max_length=MAX_QUERY_CHARS, description="the query the result answered")


class FeedbackResponse(BaseModel):
    vault: str
    path: str
    useful: int
    not_useful: int
    prior: float = Field(..., description="(useful + 1) / (useful + not_useful + 2)")


# --- scoped agent tokens (qmdr.access) ---------------------------------------------------------------------
class TokenCreate(BaseModel):
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="used to list and revoke it")
    vaults: dict[str, Literal["r", "rw"]] = Field(
        ..., min_length=1, max_length=100, description='vault -> "r" (read) or "rw" (read and write)'
    )


class TokenModel(BaseModel):
    name: str
    vaults: dict[str, Literal["r", "rw"]]
    created_at: float


class TokenCreated(TokenModel):
    token: str = Field(..., description="the token itself: shown this once, stored only as its SHA-256")


class TokenList(BaseModel):
    tokens: list[TokenModel]
