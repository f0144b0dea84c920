"""Memory in and out over HTTP: ``POST /vaults/{vault}/import/{source}`` takes a chat export as the request
body; ``GET /vaults/{vault}/export`` streams a ZIP of the vault's notes."""

from __future__ import annotations

from typing import Literal

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from qmdr.api.deps import Authorized, ReadVault, ServiceDep, WriteVault
from qmdr.api.schemas import ImportResult, IndexSummaryModel
from qmdr.memory.conversations import parse_export
from qmdr.memory.export import export_zip_bytes, note_files
from qmdr.memory.importer import DEFAULT_IMPORT_FOLDER, import_conversations

router = APIRouter(prefix="/vaults", tags=["vaults"], dependencies=[Authorized])


@router.get(
    "/{vault}/export",
    response_class=StreamingResponse,
    dependencies=[ReadVault],
    responses={200: {"content": {"application/zip": {}}, "description": "a ZIP of the vault's notes"}},
)
async def export_vault(vault: str, service: ServiceDep) -> StreamingResponse:
    """Every note of a vault as plain markdown in a ZIP (same folders and names), streamed note by note,
    so memory written through the API is never locked inside qmdr."""
    folder = service.memory.info(vault).folder  # 404 for an unknown vault before the stream starts
    note_files(folder)  # a missing folder fails here as a clear error, not halfway through a stream
    return StreamingResponse(
        export_zip_bytes(folder),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{vault}-notes.zip"'},
    )


@router.post(
    "/{vault}/import/{source}",
    response_model=ImportResult,
    dependencies=[WriteVault],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
)
async def import_export(
    vault: str,
    source: Literal["chatgpt", "claude"],
    request: Request,
    service: ServiceDep,
    folder: str = Query(
        DEFAULT_IMPORT_FOLDER, max_length=200, description="vault folder for the notes (then one per source)"
    ),
) -> ImportResult:
    """Import a chat export sent as the request body (the ZIP or its conversations.json): one note per
    conversation, re-imports update the same notes, a malformed export (422) writes nothing. Bodies are
    held to the server's request limit; import larger exports with `qmdr import`."""
    service.memory.info(vault)  # 404 for an unknown vault before the body is parsed
    raw = await request.body()
    conversations = await anyio.to_thread.run_sync(lambda: parse_export(source, raw, name="the request body"))
    outcome = await import_conversations(service.memory, vault, source, conversations, folder=folder)
    summary = outcome.summary
    return ImportResult(
        vault=vault,
        source=source,
        conversations=outcome.conversations,
        written=outcome.written,
        unchanged=outcome.unchanged,
        skipped_empty=outcome.skipped_empty,
        index=IndexSummaryModel(**{k: getattr(summary, k) for k in IndexSummaryModel.model_fields})
        if summary
        else IndexSummaryModel(),
    )
