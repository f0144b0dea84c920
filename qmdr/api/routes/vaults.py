"""Vaults, their notes and multi-vault search: ``/vaults/...``.

``default`` is served here like every other vault; ``POST /search``,
``POST /reindex``, ``GET /notes/{path}`` are its single-vault aliases.

Writes (``POST``/``DELETE`` of a note) reindex just that note before they
answer, so the caller's next search sees the change.
"""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from qmdr.api.deps import AccessDep, Authorized, ReadVault, ServiceDep, WriteVault
from qmdr.api.routes.notes import note_model
from qmdr.api.routes.search import search_one_vault
from qmdr.api.schemas import (
    IndexSummaryModel,
    JobStatusModel,
    MemoryHitModel,
    MemorySearchRequest,
    MemorySearchResponse,
    NoteModel,
    NoteWrite,
    NoteWriteResult,
    SearchRequest,
    SearchResponseModel,
    SimilarChunk,
    VaultCreate,
    VaultList,
    VaultModel,
    VaultReindexRequest,
)
from qmdr.memory.corrections import RememberOutcome, remember
from qmdr.memory.hub import MemorySearch, VaultHub
from qmdr.memory.indexer import IndexSummary
from qmdr.memory.notes_write import delete_note, note_key
from qmdr.memory.vault_roots import allowed_roots, confine
from qmdr.memory.vaults import VaultInfo, VaultSettings

router = APIRouter(prefix="/vaults", tags=["vaults"], dependencies=[Authorized])


def vault_model(hub: VaultHub, info: VaultInfo) -> VaultModel:
    return VaultModel(**info.to_dict(), index=hub.stats(info.name))


def summary_model(summary: IndexSummary) -> IndexSummaryModel:
    return IndexSummaryModel(**{k: getattr(summary, k) for k in IndexSummaryModel.model_fields})


def note_write_result(done: RememberOutcome) -> NoteWriteResult:
    written = done.write
    return NoteWriteResult(
        vault=done.vault,
        path=done.path,
        created=bool(written and written.created),
        deleted=False,
        index=summary_model(written.summary) if written else IndexSummaryModel(),
        action=done.action,
        superseded=done.superseded,
        similar=[SimilarChunk(**s.to_dict()) for s in done.similar],
    )


def search_response(query: str, found: MemorySearch, explain: bool) -> MemorySearchResponse:
    return MemorySearchResponse(
        query=query,
        vaults=found.vaults,
        timings_ms=found.timings_ms,
        reranked=found.reranked,
        warnings=found.warnings,
        results=[
            MemoryHitModel(
                vault=h.vault,
                path=h.result.path,
                title=h.result.title,
                heading_trail=list(h.result.heading_trail),
                start_line=h.result.start_line,
                end_line=h.result.end_line,
                snippet=h.result.snippet,
                score=h.score,
                ranks=h.result.ranks,
                scores=h.result.scores,
                tags=list(h.result.tags),
                relevance=h.relevance,
                chunk_hash=h.result.chunk_hash,
                explain=h.explain if explain else None,
            )
            for h in found.results
        ],
    )


@router.get("", response_model=VaultList)
async def list_vaults(service: ServiceDep, access: AccessDep) -> VaultList:
    """Every vault: ``default`` (QMDR_VAULT) first, then the named ones, with index counts
    (for an agent token: the vaults it can read)."""
    hub = service.memory
    return VaultList(vaults=[vault_model(hub, info) for info in hub.list() if access.can_read(info.name)])


@router.post("", response_model=VaultModel, status_code=status.HTTP_201_CREATED)
async def add_vault(body: VaultCreate, service: ServiceDep) -> VaultModel:
    """Register a folder as a named vault (409 if the name is taken) and, by default, index it.
    The folder must be QMDR_VAULT, inside QMDR_VAULT_ROOTS or inside a registered vault (else 400);
    `qmdr vault add` on the command line is not confined."""
    hub = service.memory
    folder = confine(body.folder, allowed_roots(service))
    info = hub.add(body.name, folder, VaultSettings.from_dict(body.settings))
    if body.index:
        await hub.reindex(info.name)
    return vault_model(hub, info)


@router.post("/search", response_model=MemorySearchResponse)
async def search_vaults(body: MemorySearchRequest, service: ServiceDep, access: AccessDep) -> MemorySearchResponse:
    """Search one, several or all vaults (for an agent token: all it can read; 403 for a named vault it
    cannot); results are fused by RRF and each names its vault.
    ``group_by_note`` keeps the best chunk per note; ``explain`` adds each stage's contribution."""
    vaults = access.search_scope(body.vaults, (info.name for info in service.memory.list()))
    found = await service.memory.search(
        body.query,
        vaults=vaults,
        mode=body.mode,
        k=body.k,
        rerank=body.rerank,
        expand=body.expand,
        filters=body.filters(),
        group_by_note=body.group_by_note,
        explain=body.explain,
        include_superseded=body.include_superseded,
        min_relevance=body.min_relevance,
    )
    return search_response(body.query, found, body.explain)


@router.get("/{vault}", response_model=VaultModel, dependencies=[ReadVault])
async def get_vault(vault: str, service: ServiceDep) -> VaultModel:
    """One vault with its index counts (404 if unknown)."""
    return vault_model(service.memory, service.memory.info(vault))


@router.delete("/{vault}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_vault(vault: str, service: ServiceDep) -> None:
    """Forget a named vault and delete its index (its folder is left untouched)."""
    await service.memory.remove(vault)


@router.post("/{vault}/search", response_model=SearchResponseModel, dependencies=[ReadVault])
async def search_vault(vault: str, body: SearchRequest, service: ServiceDep) -> SearchResponseModel:
    """Search one vault, answered in the POST /search shape (that vault's own scores)."""
    return await search_one_vault(service.memory, vault, body)


@router.post(
    "/{vault}/reindex",
    response_model=IndexSummaryModel,
    dependencies=[WriteVault],
    responses={202: {"model": JobStatusModel, "description": "started in the background"}},
)
async def reindex_vault(vault: str, service: ServiceDep, body: VaultReindexRequest | None = None) -> object:
    """Incremental reindex of one vault, answered when done (queued behind other writes to it); with
    ``background`` it answers 202 at once and GET /reindex/status follows it. A folder without notes over
    an index with notes is refused (409) unless ``allow_empty``."""
    body = body or VaultReindexRequest()
    hub = service.memory
    if body.background:
        job = await hub.start_reindex(vault, rebuild=body.rebuild, allow_empty=body.allow_empty)
        return JSONResponse(JobStatusModel(**job.to_dict()).model_dump(), status_code=status.HTTP_202_ACCEPTED)
    summary = await hub.reindex(vault, rebuild=body.rebuild, allow_empty=body.allow_empty)
    return summary_model(summary)


@router.post("/{vault}/notes", response_model=NoteWriteResult, dependencies=[WriteVault])
async def write_vault_note(vault: str, body: NoteWrite, service: ServiceDep) -> NoteWriteResult:
    """Create or update a note (path confined to the vault, atomic write, frontmatter merged) and
    reindex it before answering, so the next search sees it. Stored chunks the text nearly duplicates
    come back as ``similar``; ``on_duplicate`` skips or merges instead of writing; ``supersedes`` marks
    an old note ``superseded_by`` this one."""
    done = await remember(
        service.memory,
        vault,
        body.path,
        content=body.content,
        frontmatter=body.frontmatter,
        append=body.append,
        supersedes=body.supersedes,
        on_duplicate=body.on_duplicate,
        threshold=service.settings.qmdr_duplicate_threshold,
    )
    return note_write_result(done)


@router.get("/{vault}/notes/{path:path}", response_model=NoteModel, dependencies=[ReadVault])
async def get_vault_note(vault: str, path: str, service: ServiceDep) -> NoteModel:
    """One note of a vault as indexed, with its chunks."""
    return note_model(service.memory.get_note(vault, note_key(path)))  # normalised as write and delete do


@router.delete("/{vault}/notes/{path:path}", response_model=NoteWriteResult, dependencies=[WriteVault])
async def delete_vault_note(vault: str, path: str, service: ServiceDep) -> NoteWriteResult:
    """Delete a note's file and drop it from the index before answering (404 if neither exists)."""
    outcome = await delete_note(service.memory, vault, path)
    return NoteWriteResult(
        vault=outcome.vault,
        path=outcome.path,
        created=False,
        deleted=True,
        index=summary_model(outcome.summary),
        action="deleted",
    )
