"""POST /search: the query agents send, over the default vault (an alias of POST /vaults/default/search)."""

from __future__ import annotations

from fastapi import APIRouter

from qmdr.api.deps import Authorized, ReadDefault, ServiceDep
from qmdr.api.schemas import SearchHit, SearchRequest, SearchResponseModel
from qmdr.memory.hub import VaultHub
from qmdr.memory.vaults import DEFAULT_VAULT

router = APIRouter(tags=["search"], dependencies=[Authorized])


async def search_one_vault(hub: VaultHub, vault: str, body: SearchRequest) -> SearchResponseModel:
    """One vault's search in the ``POST /search`` shape (its own scores, no vault fusion)."""
    response = await hub.search_vault(
        vault,
        body.query,
        mode=body.mode,
        k=body.k,
        filters=body.filters(),
        rerank=body.rerank,
        expand=body.expand,
        include_superseded=body.include_superseded,
    )
    return SearchResponseModel(
        query=body.query,
        mode=body.mode,
        results=[
            SearchHit(
                path=r.path,
                title=r.title,
                heading_trail=list(r.heading_trail),
                start_line=r.start_line,
                end_line=r.end_line,
                snippet=r.snippet,
                score=r.score,
                ranks=r.ranks,
                scores=r.scores,
                tags=list(r.tags),
            )
            for r in response.results
        ],
        timings_ms=response.timings_ms,
        reranked=response.reranked,
        warnings=list(response.warnings),
    )


@router.post("/search", response_model=SearchResponseModel, dependencies=[ReadDefault])
async def search(body: SearchRequest, service: ServiceDep) -> SearchResponseModel:
    """Search the default vault (same as POST /vaults/default/search). Hybrid (keyword + vector, fused)
    by default; each result carries its note path, heading trail, line range, snippet, and per-stage
    ranks and scores; the response reports timing per stage and whether the LLM rerank ran."""
    return await search_one_vault(service.memory, DEFAULT_VAULT, body)
