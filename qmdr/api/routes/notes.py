"""GET /notes/{path}: read one note of the default vault (an alias of GET /vaults/default/notes/{path})."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from qmdr.api.deps import Authorized, ReadDefault, ServiceDep
from qmdr.api.schemas import ChunkModel, NoteModel
from qmdr.memory.notes_write import note_key
from qmdr.memory.vaults import DEFAULT_VAULT

router = APIRouter(tags=["notes"], dependencies=[Authorized])


def note_model(note: dict[str, Any]) -> NoteModel:
    return NoteModel(
        path=note["path"],
        title=note["title"],
        tags=list(note.get("tags") or []),
        frontmatter=note.get("frontmatter") or {},
        links=list(note.get("links") or []),
        chunks=[
            ChunkModel(
                ordinal=c["ordinal"],
                heading_trail=list(c["heading_trail"]),
                start_line=c["start_line"],
                end_line=c["end_line"],
                text=c["text"],
            )
            for c in note.get("chunks", [])
        ],
    )


@router.get("/notes/{path:path}", response_model=NoteModel, dependencies=[ReadDefault])
async def get_note(path: str, service: ServiceDep) -> NoteModel:
    """One note of the default vault as indexed: title, tags, frontmatter, links and its chunks (404 if
    not indexed). Same as GET /vaults/default/notes/{path}."""
    return note_model(service.memory.get_note(DEFAULT_VAULT, note_key(path)))  # "log/today" reads log/today.md
