"""POST /reindex and GET /reindex/status: background reindexing, one at a time.

``POST /reindex`` is the background form of ``POST /vaults/default/reindex``:
with no body it reindexes the default vault's folder; a ``vault`` folder picks
the vault whose folder it is (or, while the default vault has none, becomes
the default vault's folder once indexed).
"""

from __future__ import annotations

from fastapi import APIRouter, status

from qmdr.api.deps import AccessDep, Authorized, ServiceDep
from qmdr.api.schemas import JobStatusModel, ReindexRequest
from qmdr.errors import Forbidden
from qmdr.memory.vault_roots import allowed_roots, confine
from qmdr.memory.vaults import DEFAULT_VAULT

router = APIRouter(tags=["index"], dependencies=[Authorized])


@router.post("/reindex", response_model=JobStatusModel, status_code=status.HTTP_202_ACCEPTED)
async def start_reindex(service: ServiceDep, access: AccessDep, body: ReindexRequest | None = None) -> JobStatusModel:
    """Start an incremental reindex in the background (409 while one runs); poll GET /reindex/status.
    Only new or changed chunks are embedded; the previous index stays intact until it finishes.

    No body (or ``{}``): the default vault's folder (404 when it has none yet). ``vault``: a folder, which
    must be QMDR_VAULT, inside QMDR_VAULT_ROOTS or a registered vault (else 400), and must be the folder
    of a vault (or, while the default vault has no folder, becomes its folder; else 409). A folder without
    notes over an index with notes is refused (409) unless ``allow_empty``. An agent token needs rw on
    the default vault and may not name a folder (folders are the operator's: POST /vaults/{vault}/reindex)."""
    body = body or ReindexRequest()
    hub = service.memory
    name, first = DEFAULT_VAULT, None
    access.require_write(DEFAULT_VAULT)
    if body.vault:
        access.require_admin("reindexing a folder given by path")
        folder = confine(body.vault, allowed_roots(service))  # 400 outside the roots
        name, first = hub.vault_for_folder(folder)
    job = await hub.start_reindex(name, rebuild=body.rebuild, allow_empty=body.allow_empty, first_folder=first)
    return JobStatusModel(**job.to_dict())


@router.get("/reindex/status", response_model=JobStatusModel)
async def reindex_status(service: ServiceDep, access: AccessDep) -> JobStatusModel:
    """State of the current or last background reindex (of any vault: ``name`` says which): progress
    while running, the summary when done. An agent token sees it only for a vault it can read."""
    job = service.memory.jobs.status
    if job.name is not None and not access.can_read(job.name):
        raise Forbidden(f"the last reindex was of a vault the token {access.token_name!r} cannot read")
    return JobStatusModel(**job.to_dict())
