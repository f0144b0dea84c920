"""A small typed Python client for agents: ``QmdrClient`` (sync) and ``AsyncQmdrClient`` (async), on httpx.

Requests and responses are the server's own pydantic models
(``qmdr.api.schemas``), so a field renamed on the server breaks the client's
type check, not an agent at run time. Errors come back as ``QmdrClientError``
with the server's ``status``, ``error`` type and ``detail`` message, and the
whole problem-details body (RFC 9457) as ``problem`` (``errors`` lists the
fields of a validation error)::

    with QmdrClient("http://127.0.0.1:8181", token="...") as memory:
        memory.remember("agents/alice/today.md", "Decided: retries back off exponentially.", vault="alice")
        block = memory.context("what did we decide about retries", budget=800).markdown

Pass ``transport=`` (e.g. ``httpx.ASGITransport(app)``) to talk to an app in process.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from qmdr.api.schemas import (
    ContextRequest,
    ContextResponse,
    FeedbackRequest,
    FeedbackResponse,
    ImportResult,
    MemorySearchRequest,
    MemorySearchResponse,
    NoteModel,
    NoteWrite,
    NoteWriteResult,
    TokenCreate,
    TokenCreated,
    TokenList,
    VaultCreate,
    VaultList,
    VaultModel,
)
from qmdr.util.atomic_file import replace_atomically

#: seconds a request may take: a note write embeds the note and a context request runs several searches
DEFAULT_TIMEOUT_S = 60.0
M = TypeVar("M", bound=BaseModel)


class QmdrClientError(Exception):
    """The server answered with an error (``status`` >= 400)."""

    def __init__(self, status: int, error: str, detail: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.problem = problem or {}

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The field errors of a validation problem (422): ``loc``, ``msg``, ``type``; else empty."""
        return list(self.problem.get("errors") or [])


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        detail = body.get("detail", response.text)
        error = body.get("error") or body.get("title") or "HTTPError"  # a problem of plain HTTP has no error name
        raise QmdrClientError(
            response.status_code, str(error), detail if isinstance(detail, str) else str(detail), body
        )
    return response


def _parse(model: type[M], response: httpx.Response) -> M:
    return model.model_validate(_check(response).json())


def _save_stream(pieces: Iterable[bytes], dest: Path) -> Path:
    """Write pieces to a hidden temp file beside ``dest``, then rename it into place."""
    with replace_atomically(dest, prefix=f".{dest.name}.partial-") as handle:
        for piece in pieces:
            handle.write(piece)
    return dest


def _import_request(
    source: str, export: str | Path | bytes, vault: str, folder: str | None
) -> tuple[str, dict[str, Any]]:
    raw = export if isinstance(export, bytes) else Path(export).read_bytes()
    kind = "application/zip" if raw[:4] == b"PK\x03\x04" else "application/json"
    return (
        f"/vaults/{quote(vault, safe='')}/import/{quote(source, safe='')}",
        {"content": raw, "headers": {"content-type": kind}, "params": {"folder": folder} if folder else {}},
    )


def _note_url(vault: str, path: str) -> str:
    return f"/vaults/{quote(vault, safe='')}/notes/{quote(path, safe='/')}"


def _iso(value: str | date | None) -> str | None:
    """``after``/``before`` as sent: a date or datetime in ISO 8601 (the server reads naive as UTC)."""
    return value.isoformat() if isinstance(value, date) else value


def _search_body(query: str, vaults: list[str] | None, k: int, options: dict[str, Any]) -> dict[str, Any]:
    for bound in ("after", "before"):
        if bound in options:
            options[bound] = _iso(options[bound])
    return MemorySearchRequest(query=query, vaults=vaults, k=k, **options).model_dump(exclude_none=True)


def _context_body(
    query: str | list[str] | None,
    budget: int | None,
    profile: str,
    vaults: list[str] | None,
    since: str | datetime | None = None,
    include_superseded: bool = False,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    queries = [] if query is None else [query] if isinstance(query, str) else list(query)
    limits = {name: _iso(value) if name in ("after", "before") else value for name, value in (filters or {}).items()}
    return ContextRequest(
        queries=queries,
        budget=budget,
        profile=profile,  # type: ignore[arg-type]
        vaults=vaults,
        since=since,  # type: ignore[arg-type]
        include_superseded=include_superseded,
        **limits,
    ).model_dump(mode="json", exclude_none=True)


def _write_body(
    path: str,
    content: str | None,
    frontmatter: dict[str, Any] | None,
    append: bool,
    supersedes: str | None = None,
    on_duplicate: str = "write",
) -> dict[str, Any]:
    return NoteWrite(
        path=path,
        content=content,
        frontmatter=frontmatter or {},
        append=append,  # type: ignore[arg-type]
        supersedes=supersedes,
        on_duplicate=on_duplicate,
    ).model_dump(exclude_none=True)


class QmdrClient:
    """Synchronous client; use as a context manager or call ``close()``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8181",
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport)

    def __enter__(self) -> QmdrClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def search(
        self, query: str, *, vaults: list[str] | None = None, k: int = 10, **options: Any
    ) -> MemorySearchResponse:
        """Search (options: mode, path_prefix, tags, where, after, before, rerank, expand, group_by_note, explain,
        include_superseded). ``where={"status": "decided", "project": ["a", "b"]}`` keeps notes whose frontmatter
        has those values (a list: any of them); ``after``/``before`` (ISO strings, dates or datetimes) bound
        the note's date."""
        return _parse(
            MemorySearchResponse, self._http.post("/vaults/search", json=_search_body(query, vaults, k, options))
        )

    def context(
        self,
        query: str | list[str] | None = None,
        *,
        budget: int | None = None,
        profile: str = "balanced",
        vaults: list[str] | None = None,
        since: str | datetime | None = None,
        include_superseded: bool = False,
        **filters: Any,
    ) -> ContextResponse:
        """A ready-to-paste memory block; ``since`` keeps notes changed after that date (no query: what changed);
        ``filters``: path_prefix, tags, where, after, before, as for ``search``."""
        body = _context_body(query, budget, profile, vaults, since, include_superseded, filters)
        return _parse(ContextResponse, self._http.post("/context", json=body))

    def remember(
        self,
        path: str,
        content: str | None = None,
        *,
        vault: str = "default",
        frontmatter: dict[str, Any] | None = None,
        append: bool = False,
        supersedes: str | None = None,
        on_duplicate: str = "write",
    ) -> NoteWriteResult:
        """Create or update a note; it is searchable when this returns. ``similar`` in the answer lists
        stored chunks the text nearly duplicates (``on_duplicate``: write, skip or merge); ``supersedes``
        marks an old note as replaced by this one."""
        body = _write_body(path, content, frontmatter, append, supersedes, on_duplicate)
        return _parse(NoteWriteResult, self._http.post(f"/vaults/{quote(vault, safe='')}/notes", json=body))

    def get_note(self, path: str, *, vault: str = "default") -> NoteModel:
        return _parse(NoteModel, self._http.get(_note_url(vault, path)))

    def delete_note(self, path: str, *, vault: str = "default") -> NoteWriteResult:
        return _parse(NoteWriteResult, self._http.delete(_note_url(vault, path)))

    def feedback(
        self, path: str, useful: bool, *, vault: str = "default", query: str | None = None
    ) -> FeedbackResponse:
        body = FeedbackRequest(vault=vault, path=path, useful=useful, query=query).model_dump(exclude_none=True)
        return _parse(FeedbackResponse, self._http.post("/feedback", json=body))

    def vaults(self) -> VaultList:
        return _parse(VaultList, self._http.get("/vaults"))

    def add_vault(
        self, name: str, folder: str, *, settings: dict[str, Any] | None = None, index: bool = True
    ) -> VaultModel:
        body = VaultCreate(name=name, folder=folder, settings=settings or {}, index=index).model_dump()
        return _parse(VaultModel, self._http.post("/vaults", json=body))

    def remove_vault(self, name: str) -> None:
        _check(self._http.delete(f"/vaults/{quote(name, safe='')}"))

    def import_export(
        self, source: str, export: str | Path | bytes, *, vault: str = "default", folder: str | None = None
    ) -> ImportResult:
        """Import a ChatGPT or Claude export (a file path or its bytes): one note per conversation."""
        return _parse(ImportResult, self._http.post(*_import_request(source, export, vault, folder)))

    def create_token(self, name: str, vaults: dict[str, str]) -> TokenCreated:
        """Admin only: an agent token reaching ``vaults`` (``{"alice": "rw", "shared": "r"}``); its
        ``token`` is in this answer only, so hand it to the agent now."""
        body = TokenCreate(name=name, vaults=vaults).model_dump()  # type: ignore[arg-type]
        return _parse(TokenCreated, self._http.post("/tokens", json=body))

    def tokens(self) -> TokenList:
        """Admin only: every agent token's name, vaults and creation time (never the tokens)."""
        return _parse(TokenList, self._http.get("/tokens"))

    def revoke_token(self, name: str) -> None:
        """Admin only: the token is refused from its next request on."""
        _check(self._http.delete(f"/tokens/{quote(name, safe='')}"))

    def export(self, vault: str, dest: str | Path) -> Path:
        """Download a ZIP of every note of ``vault`` to the file ``dest`` (written whole or not at all)."""
        with self._http.stream("GET", f"/vaults/{quote(vault, safe='')}/export") as response:
            if response.status_code >= 400:
                response.read()
                _check(response)
            return _save_stream(response.iter_bytes(), Path(dest))


class AsyncQmdrClient:
    """Asynchronous client with the same methods as ``QmdrClient``; ``async with`` or ``await aclose()``."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8181",
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers=_headers(token), timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncQmdrClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def search(
        self, query: str, *, vaults: list[str] | None = None, k: int = 10, **options: Any
    ) -> MemorySearchResponse:
        body = _search_body(query, vaults, k, options)
        return _parse(MemorySearchResponse, await self._http.post("/vaults/search", json=body))

    async def context(
        self,
        query: str | list[str] | None = None,
        *,
        budget: int | None = None,
        profile: str = "balanced",
        vaults: list[str] | None = None,
        since: str | datetime | None = None,
        include_superseded: bool = False,
        **filters: Any,
    ) -> ContextResponse:
        body = _context_body(query, budget, profile, vaults, since, include_superseded, filters)
        return _parse(ContextResponse, await self._http.post("/context", json=body))

    async def remember(
        self,
        path: str,
        content: str | None = None,
        *,
        vault: str = "default",
        frontmatter: dict[str, Any] | None = None,
        append: bool = False,
        supersedes: str | None = None,
        on_duplicate: str = "write",
    ) -> NoteWriteResult:
        body = _write_body(path, content, frontmatter, append, supersedes, on_duplicate)
        return _parse(NoteWriteResult, await self._http.post(f"/vaults/{quote(vault, safe='')}/notes", json=body))

    async def get_note(self, path: str, *, vault: str = "default") -> NoteModel:
        return _parse(NoteModel, await self._http.get(_note_url(vault, path)))

    async def delete_note(self, path: str, *, vault: str = "default") -> NoteWriteResult:
        return _parse(NoteWriteResult, await self._http.delete(_note_url(vault, path)))

    async def feedback(
        self, path: str, useful: bool, *, vault: str = "default", query: str | None = None
    ) -> FeedbackResponse:
        body = FeedbackRequest(vault=vault, path=path, useful=useful, query=query).model_dump(exclude_none=True)
        return _parse(FeedbackResponse, await self._http.post("/feedback", json=body))

    async def vaults(self) -> VaultList:
        return _parse(VaultList, await self._http.get("/vaults"))

    async def add_vault(
        self, name: str, folder: str, *, settings: dict[str, Any] | None = None, index: bool = True
    ) -> VaultModel:
        body = VaultCreate(name=name, folder=folder, settings=settings or {}, index=index).model_dump()
        return _parse(VaultModel, await self._http.post("/vaults", json=body))

    async def remove_vault(self, name: str) -> None:
        _check(await self._http.delete(f"/vaults/{quote(name, safe='')}"))

    async def import_export(
        self, source: str, export: str | Path | bytes, *, vault: str = "default", folder: str | None = None
    ) -> ImportResult:
        """Import a ChatGPT or Claude export (a file path or its bytes): one note per conversation."""
        url, options = _import_request(source, export, vault, folder)
        return _parse(ImportResult, await self._http.post(url, **options))

    async def create_token(self, name: str, vaults: dict[str, str]) -> TokenCreated:
        body = TokenCreate(name=name, vaults=vaults).model_dump()  # type: ignore[arg-type]
        return _parse(TokenCreated, await self._http.post("/tokens", json=body))

    async def tokens(self) -> TokenList:
        return _parse(TokenList, await self._http.get("/tokens"))

    async def revoke_token(self, name: str) -> None:
        _check(await self._http.delete(f"/tokens/{quote(name, safe='')}"))

    async def export(self, vault: str, dest: str | Path) -> Path:
        """Download a ZIP of every note of ``vault`` to the file ``dest`` (written whole or not at all)."""
        async with self._http.stream("GET", f"/vaults/{quote(vault, safe='')}/export") as response:
            if response.status_code >= 400:
                await response.aread()
                _check(response)
            return _save_stream([chunk async for chunk in response.aiter_bytes()], Path(dest))
