"""Memory: every vault with its counts, reindex with live progress, search with per-stage evidence, a note viewer.

Every vault is listed (``default`` first); the user picks the vault to
reindex and the vaults to search, and each result names its vault. The
reindex button is a plain CSRF-protected form; ``dashboard.js`` upgrades
it to a background POST, polls ``GET /reindex/status`` (the API route, same
auth) to draw the progress bar and then reads ``GET /vaults`` for the counts.
Search is a GET form, so a result page can be bookmarked and reloaded without
resubmitting anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from starlette.responses import JSONResponse, Response

from providers.errors import ProviderError
from qmdr.errors import IndexBusy, InvalidQuery, NotFound, QmdrError
from qmdr.memory.notes_write import note_key
from qmdr.memory.vaults import DEFAULT_VAULT
from qmdr.search.searcher import MAX_K, MAX_QUERY_CHARS, MODES
from qmdr.ui.forms import field_text
from qmdr.ui.web import UI_PREFIX, error_page, posted_form, redirect, render, require_login, service_of
from vault.errors import IngestError

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False, dependencies=[Depends(require_login)])
MEMORY_PAGE = f"{UI_PREFIX}/memory"
#: results shown when the form does not say: one screen of cards
DEFAULT_K = 10
#: how often the page polls /reindex/status while a job runs (milliseconds; read by dashboard.js)
POLL_INTERVAL_MS = 500


def when(timestamp: float | str | None) -> str | None:
    """A job time (epoch seconds) or the index's ISO timestamp, as UTC text for the page."""
    if timestamp is None or timestamp == "":
        return None
    try:
        moment = (
            datetime.fromtimestamp(float(timestamp), UTC)
            if isinstance(timestamp, (int, float))
            else datetime.fromisoformat(str(timestamp))
        )
    except ValueError:
        return str(timestamp)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def clamp_k(raw: str | None) -> int:
    try:
        return max(1, min(MAX_K, int(raw or DEFAULT_K)))
    except ValueError:
        return DEFAULT_K


@router.get("")
async def home() -> Response:
    return Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": MEMORY_PAGE})


def vault_rows(service: Any) -> list[dict[str, Any]]:
    """Every vault with its folder and counts, ``default`` first; ``default`` is listed even before it
    has a folder (its index is where a first reindex goes)."""
    hub = service.memory
    infos = hub.list()
    rows = [{"name": info.name, "folder": str(info.folder)} for info in infos]
    if not any(row["name"] == DEFAULT_VAULT for row in rows):
        rows.insert(0, {"name": DEFAULT_VAULT, "folder": None})
    for row in rows:
        stats = hub.stats(row["name"])
        row["index"] = stats
        row["last_reindex"] = when(stats.get("last_reindex"))
    return rows


@router.get("/memory")
async def memory(
    request: Request,
    q: str | None = None,
    mode: str = "hybrid",
    k: str | None = None,
    vault: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Every vault with its counts, the reindex form (pick a vault) and the search box (pick the vaults;
    results when ``q`` is given, each naming its vault)."""
    service = service_of(request)
    health = service.health()
    job = service.memory.jobs.status.to_dict()
    vaults = vault_rows(service)
    names = [row["name"] for row in vaults]
    selected = [name for name in names if name in (vault or ())] or names  # in the page's order; none: all
    query = (q or "").strip()
    mode = mode if mode in MODES else "hybrid"
    default_row = next(row for row in vaults if row["name"] == DEFAULT_VAULT)
    context: dict[str, Any] = {
        "title": "Memory",
        "health": health,
        "vaults": vaults,
        "selected": selected,
        "job": job,
        "job_started": when(job.get("started_at")),
        "job_finished": when(job.get("finished_at")),
        "reindex_name": job.get("name") or DEFAULT_VAULT,
        "default_has_folder": default_row["folder"] is not None,
        "query": query,
        "mode": mode,
        "modes": MODES,
        "k": clamp_k(k),
        "max_k": MAX_K,
        "max_query": MAX_QUERY_CHARS,
        "poll_ms": POLL_INTERVAL_MS,
        "results": None,
        "search_error": None,
    }
    if query:
        if len(query) > MAX_QUERY_CHARS:
            context["search_error"] = f"A query is at most {MAX_QUERY_CHARS} characters."
        else:
            try:
                context["results"] = await service.memory.search(query, vaults=selected, mode=mode, k=context["k"])
            except (QmdrError, ProviderError, IngestError) as exc:
                context["search_error"] = str(getattr(exc, "message", None) or exc)
    return render(request, "memory.html", context)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/memory/reindex")
async def reindex(request: Request) -> Response:
    """Start a background reindex of the chosen vault (``name``, default ``default``); a ``vault`` folder
    picks the vault whose folder it is, or gives the default vault its first folder."""
    form = await posted_form(request)
    service = service_of(request)
    folder = field_text(form, "vault") or None
    hub = service.memory
    try:
        name, first = (
            hub.vault_for_folder(Path(folder)) if folder else (field_text(form, "name") or DEFAULT_VAULT, None)
        )
        job = await hub.start_reindex(
            name,
            rebuild=bool(field_text(form, "rebuild")),
            allow_empty=bool(field_text(form, "allow_empty")),
            first_folder=first,
        )
    except IndexBusy as exc:
        if wants_json(request):
            return JSONResponse({"error": "IndexBusy", "detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)
        return redirect(request, MEMORY_PAGE, flash=("info", "A reindex is already running."))
    except (QmdrError, IngestError) as exc:
        if wants_json(request):
            return JSONResponse(
                {"error": type(exc).__name__, "detail": str(exc)}, status_code=status.HTTP_400_BAD_REQUEST
            )
        return redirect(request, MEMORY_PAGE, flash=("error", str(exc)))
    if wants_json(request):
        return JSONResponse(job.to_dict(), status_code=status.HTTP_202_ACCEPTED)
    return redirect(
        request, MEMORY_PAGE, flash=("info", f"Reindexing vault {job.name} ({job.vault}) in the background.")
    )


@router.get("/notes/{path:path}")
async def note(path: str, request: Request, vault: str = DEFAULT_VAULT) -> Response:
    """One indexed note of a vault: title, tags, frontmatter, links and its chunks with line ranges."""
    try:
        found = service_of(request).memory.get_note(vault, note_key(path))
    except (NotFound, InvalidQuery, IngestError):
        return error_page(
            request, "Note not found", f"No indexed note at {path!r} in vault {vault!r}.", status.HTTP_404_NOT_FOUND
        )
    return render(request, "note.html", {"title": found["title"] or path, "note": found, "vault": vault})
