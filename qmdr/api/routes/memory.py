"""POST /context (a ready-to-paste memory block) and POST /feedback (was a result useful?)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter

from qmdr.api.deps import AccessDep, Authorized, ServiceDep
from qmdr.api.schemas import ContextEntryModel, ContextRequest, ContextResponse, FeedbackRequest, FeedbackResponse
from qmdr.errors import InvalidQuery
from qmdr.memory.context import build_context
from qmdr.memory.handoff import parse_since
from qmdr.search.boosts import usefulness

router = APIRouter(tags=["memory"], dependencies=[Authorized])


@router.post("/context", response_model=ContextResponse)
async def context(body: ContextRequest, service: ServiceDep, access: AccessDep) -> ContextResponse:
    """Markdown for an agent's prompt: per-vault sections of the best chunks (title, path, heading,
    relevance %), then their linked and frontmatter-related notes, never over the token budget.
    With ``since``: only notes changed after that date (no query: what changed, newest first)."""
    queries = body.all_queries()
    if not queries and body.since is None:
        raise InvalidQuery("give query, queries or since")
    vaults = access.search_scope(body.vaults, (info.name for info in service.memory.list()))
    block = await build_context(
        service.memory,
        queries,
        budget=body.budget or service.settings.qmdr_context_tokens,
        profile=body.profile,
        vaults=vaults,
        mode=body.mode,
        filters=body.filters(),
        since=parse_since(body.since) if body.since is not None else None,
        include_superseded=body.include_superseded,
        min_relevance=body.min_relevance,
    )
    return ContextResponse(
        markdown=block.markdown,
        tokens=block.tokens,
        budget=block.budget,
        profile=block.profile,
        entries=[ContextEntryModel(**e.to_dict()) for e in block.entries],
        warnings=block.warnings,
    )


@router.post("/feedback", response_model=FeedbackResponse)
async def feedback(body: FeedbackRequest, service: ServiceDep, access: AccessDep) -> FeedbackResponse:
    """Record whether a result (a note of a vault) was useful; feeds the usefulness prior
    (applied to searches only when QMDR_FEEDBACK_WEIGHT > 0). An agent token needs rw on the vault."""
    access.require_write(body.vault)
    hub = service.memory
    hub.known(body.vault)  # 404 for an unknown vault (default is always a vault, folder or not)
    useful, not_useful = await anyio.to_thread.run_sync(hub.feedback.record, body.vault, body.path, body.useful)
    return FeedbackResponse(
        vault=body.vault, path=body.path, useful=useful, not_useful=not_useful, prior=usefulness(useful, not_useful)
    )
