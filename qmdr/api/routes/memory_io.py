"""Getting memory out over HTTP: ``GET /vaults/{vault}/export`` streams a ZIP of the vault's notes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from qmdr.api.deps import Authorized, ReadVault, ServiceDep
from qmdr.memory.export import export_zip_bytes, note_files

router = APIRouter(prefix="/vaults", tags=["vaults"], dependencies=[Authorized])


@router.get("/{vault}/export", response_class=StreamingResponse, dependencies=[ReadVault],
            responses={200: {"content": {"application/zip": {}}, "description": "a ZIP of the vault's notes"}})
async def export_vault(vault: str, service: ServiceDep) -> StreamingResponse:
    """Every note of a vault as plain markdown in a ZIP (same folders and names), streamed note by note,
    so memory written through the API is never locked inside qmdr."""
    folder = service.memory.info(vault).folder  # 404 for an unknown vault before the stream starts
    note_files(folder)  # a missing folder fails here as a clear error, not halfway through a stream
    return StreamingResponse(export_zip_bytes(folder), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{vault}-notes.zip"'})
