"""POST /reindex and GET /reindex/status: background reindexing, one at a time."""

from __future__ import annotations

from fastapi import APIRouter, status

from qmdr.api.deps import Authorized, ServiceDep
from qmdr.api.schemas import JobStatusModel, ReindexRequest

router = APIRouter(tags=["index"], dependencies=[Authorized])


@router.post("/reindex", response_model=JobStatusModel, status_code=status.HTTP_202_ACCEPTED)
async def start_reindex(service: ServiceDep, body: ReindexRequest | None = None) -> JobStatusModel:
    """Start an incremental reindex of the vault in the background (409 while one runs).
    Only new or changed chunks are embedded; the previous index stays intact until it finishes."""
    body = body or ReindexRequest()
    job = service.start_reindex(body.vault, rebuild=body.rebuild)
    return JobStatusModel(**job.to_dict())


@router.get("/reindex/status", response_model=JobStatusModel)
async def reindex_status(service: ServiceDep) -> JobStatusModel:
    """State of the current or last reindex: progress while running, the summary when done."""
    return JobStatusModel(**service.jobs.status.to_dict())
