"""POST /reindex and GET /reindex/status: background reindexing, one at a time."""

from __future__ import annotations

from fastapi import APIRouter, status

from qmdr.api.deps import Authorized, ServiceDep
from qmdr.api.schemas import JobStatusModel, ReindexRequest
from qmdr.memory.vault_roots import allowed_roots, confine

router = APIRouter(tags=["index"], dependencies=[Authorized])


@router.post("/reindex", response_model=JobStatusModel, status_code=status.HTTP_202_ACCEPTED)
async def start_reindex(service: ServiceDep, body: ReindexRequest | None = None) -> JobStatusModel:
    """Start an incremental reindex of the vault in the background (409 while one runs).
    Only new or changed chunks are embedded; the previous index stays intact until it finishes.
    A ``vault`` folder must be QMDR_VAULT, inside QMDR_VAULT_ROOTS or a registered vault (else 400)."""
    body = body or ReindexRequest()
    folder = confine(body.vault, allowed_roots(service)) if body.vault else None  # 400 outside the roots
    job = service.start_reindex(folder, rebuild=body.rebuild)
    return JobStatusModel(**job.to_dict())


@router.get("/reindex/status", response_model=JobStatusModel)
async def reindex_status(service: ServiceDep) -> JobStatusModel:
    """State of the current or last reindex: progress while running, the summary when done."""
    return JobStatusModel(**service.jobs.status.to_dict())
