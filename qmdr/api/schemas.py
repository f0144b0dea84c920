"""Request and response models of the HTTP API (they feed the OpenAPI docs at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

#: a query longer than this is a pasted document, not a question; it would also blow the FTS and LLM budgets
MAX_QUERY_CHARS = 2000
#: results per search; beyond this agents should page with filters, and rerank cost grows linearly
MAX_K = 100

SearchMode = Literal["keyword", "vector", "hybrid"]


class SearchRequest(BaseModel):
    """A memory search."""

    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, description="what to look for")
    mode: SearchMode = Field("hybrid", description="keyword (BM25), vector (embeddings) or hybrid (both, fused)")
    k: int = Field(10, ge=1, le=MAX_K, description="number of results")
    path_prefix: str | None = Field(None, max_length=1000, description="only notes under this path")
    tags: list[str] = Field(default_factory=list, max_length=20, description="only notes carrying all these tags")
    rerank: bool | None = Field(None, description="LLM rerank (default: on when a rerank provider is configured)")
    expand: bool = Field(False, description="also search LLM-written alternative phrasings (fused by RRF)")

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
    vault: str | None = Field(None, max_length=4096, description="vault folder; default: the configured QMDR_VAULT")
    rebuild: bool = Field(False, description="drop all vectors and re-embed (needed after an embedding model change)")


class JobStatusModel(BaseModel):
    state: Literal["idle", "running", "done", "failed"]
    vault: str | None = None
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
