"""GET /notes/{path}: read one indexed note and its chunks."""

from __future__ import annotations

from fastapi import APIRouter

from qmdr.api.deps import Authorized, ServiceDep
from qmdr.api.schemas import ChunkModel, NoteModel
from qmdr.memory.notes_write import note_key

router = APIRouter(tags=["notes"], dependencies=[Authorized])


@router.get("/notes/{path:path}", response_model=NoteModel)
async def get_note(path: str, service: ServiceDep) -> NoteModel:
    """One note as indexed: title, tags, frontmatter, links and its chunks (404 if not indexed)."""
    note = service.get_note(note_key(path))  # 'log/today' reads log/today.md, as it was written
    return NoteModel(
        path=note["path"], title=note["title"], tags=list(note.get("tags") or []),
        frontmatter=note.get("frontmatter") or {}, links=list(note.get("links") or []),
        chunks=[ChunkModel(ordinal=c["ordinal"], heading_trail=list(c["heading_trail"]),
                           start_line=c["start_line"], end_line=c["end_line"], text=c["text"])
                for c in note.get("chunks", [])],
    )
