"""qmdr as an MCP server (official ``mcp`` SDK 2.x, ``MCPServer``): ``qmdr mcp`` (stdio) and ``qmdr mcp --http``.

Tools, each a thin shell over the same ``Service`` the HTTP API uses:

* ``search``: hybrid search over one, several or all vaults;
* ``get``: one indexed note with its chunks;
* ``context``: a ready-to-paste markdown block within a token budget;
* ``remember``: write (create, update or append to) a note, indexed before the tool answers;
* ``status``: vaults, index counts and the embedding model.

Domain errors become ``ToolError`` with the same one-line messages the CLI
prints, so an agent sees "no vault named 'x'" rather than a traceback.

Over HTTP with QMDR_API_TOKEN set, every request needs that token or an agent
token (``qmdr.api.mcp_auth``), and each tool keeps to the caller's vaults as the
API's routes do: ``search``/``context`` over all vaults cover the readable ones,
``get`` needs read, ``remember`` needs rw, ``status`` lists the readable vaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from providers.errors import ProviderError
from qmdr import __version__
from qmdr.api.mcp_auth import McpBearerAuth, access_of
from qmdr.errors import QmdrError
from qmdr.memory.context import build_context
from qmdr.memory.corrections import remember as remember_note
from qmdr.memory.handoff import parse_since
from qmdr.memory.notes_write import note_key
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.store.filtering import make_filters
from vault.errors import IngestError

#: results an MCP search returns at most: a tool result lands in the model's context window
MCP_MAX_K = 50
#: streamable HTTP endpoint path (the SDK's default)
MCP_HTTP_PATH = "/mcp"

T = TypeVar("T")

INSTRUCTIONS = (
    "Long-term memory over markdown vaults. Use `context` to get a ready-to-paste block for a task, "
    "`search` to look things up, `get` to read a whole note, `remember` to write what should be kept, "
    "and `status` to see the vaults."
)


def create_mcp_server(settings: Settings, *, service: Service | None = None) -> MCPServer:
    """The MCP server; pass ``service`` to share one already built (tests)."""
    holder: dict[str, Service] = {}
    if service is not None:
        holder["service"] = service

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[dict[str, Any]]:
        owned = "service" not in holder
        if owned:
            holder["service"] = Service.from_settings(settings)
        try:
            yield {}
        finally:
            if owned:
                await holder.pop("service").aclose()

    server = MCPServer(
        "qmdr",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.qmdr_log_level.upper(),
    )  # type: ignore[arg-type]

    def current() -> Service:
        if "service" not in holder:  # pragma: no cover - the lifespan always runs first
            raise ToolError("the qmdr service is not running")
        return holder["service"]

    async def guarded(run: Callable[[], Awaitable[T]]) -> T:
        try:
            return await run()
        except (QmdrError, ProviderError, IngestError) as exc:
            raise ToolError(str(getattr(exc, "message", None) or exc)) from exc

    @server.tool()
    async def search(
        ctx: Context,
        query: str,
        vaults: list[str] | None = None,
        k: int = 8,
        group_by_note: bool = True,
        mode: str = "hybrid",
        include_superseded: bool = False,
        where: dict[str, Any] | None = None,
        after: str | None = None,
        before: str | None = None,
        path_prefix: str | None = None,
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        """Search memory (hybrid keyword + vector). `vaults` limits it to those vaults (default: all).
        Returns each hit's vault, path, title, heading, line range, relevance (0-100) and snippet.
        Notes replaced by a newer one (superseded_by) are left out unless `include_superseded`.
        Filters (all must hold): `where` on frontmatter fields, e.g. {"status": "decided", "project":
        ["a", "b"]} (a list means any of them; a frontmatter list matches through any element);
        `after`/`before` ISO dates on the note's date (updated, else date, else created, else file
        time; after inclusive, before exclusive); `path_prefix`; `tags` (all of them)."""

        async def run() -> dict[str, Any]:
            hub = current().memory
            filters = make_filters(path_prefix=path_prefix, tags=tags or (), where=where, after=after, before=before)
            scope = access_of(ctx.request_context.request).search_scope(vaults, (v.name for v in hub.list()))
            found = await hub.search(
                query,
                vaults=scope,
                k=max(1, min(k, MCP_MAX_K)),
                mode=mode,
                filters=filters,
                group_by_note=group_by_note,
                include_superseded=include_superseded,
            )
            return {
                "query": query,
                "vaults": found.vaults,
                "warnings": found.warnings,
                "results": [
                    {
                        "vault": h.vault,
                        "path": h.result.path,
                        "title": h.result.title,
                        "heading": " > ".join(h.result.heading_trail),
                        "lines": [h.result.start_line, h.result.end_line],
                        "relevance": h.relevance,
                        "snippet": h.result.snippet,
                    }
                    for h in found.results
                ],
            }

        return await guarded(run)

    @server.tool()
    async def get(ctx: Context, path: str, vault: str = "default") -> dict[str, Any]:
        """Read one indexed note of a vault: title, tags, frontmatter, links and its full text by chunk."""

        async def run() -> dict[str, Any]:
            access_of(ctx.request_context.request).require_read(vault)
            note = current().memory.get_note(vault, note_key(path))  # 'log/today' reads log/today.md
            return {
                "vault": vault,
                "path": note["path"],
                "title": note["title"],
                "tags": note["tags"],
                "frontmatter": note["frontmatter"],
                "links": note["links"],
                "chunks": [
                    {
                        "heading": " > ".join(c["heading_trail"]),
                        "lines": [c["start_line"], c["end_line"]],
                        "text": c["text"],
                    }
                    for c in note["chunks"]
                ],
            }

        return await guarded(run)

    @server.tool()
    async def context(
        ctx: Context,
        query: str = "",
        budget: int | None = None,
        profile: str = "balanced",
        vaults: list[str] | None = None,
        extra_queries: list[str] | None = None,
        since: str | None = None,
        include_superseded: bool = False,
        where: dict[str, Any] | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> str:
        """A ready-to-paste markdown block of the memory most relevant to `query` (plus `extra_queries`),
        never over `budget` tokens (default QMDR_CONTEXT_TOKENS). Profiles: brief, balanced, deep.
        `since` (ISO date or date-time) keeps only notes changed after it; with no query it gives what
        changed, newest first: use it to pick up where another agent left off. Notes replaced by a newer
        one are left out unless `include_superseded`. `where`, `after`, `before` filter the notes as in
        `search`."""

        async def run() -> str:
            svc = current()
            filters = make_filters(where=where, after=after, before=before)
            scope = access_of(ctx.request_context.request).search_scope(vaults, (v.name for v in svc.memory.list()))
            block = await build_context(
                svc.memory,
                [query, *(extra_queries or [])],
                budget=budget or svc.settings.qmdr_context_tokens,
                profile=profile,
                vaults=scope,
                since=parse_since(since) if since else None,
                include_superseded=include_superseded,
                filters=filters,
            )
            return block.markdown or "(no memory found for this query)"

        return await guarded(run)

    @server.tool()
    async def remember(
        ctx: Context,
        path: str,
        content: str,
        vault: str = "default",
        frontmatter: dict[str, Any] | None = None,
        append: bool = False,
        supersedes: str | None = None,
        on_duplicate: str = "write",
    ) -> dict[str, Any]:
        """Write a note into a vault (created or replaced; `append` adds to its end), merging `frontmatter`.
        The path stays inside the vault (.md is added if missing); the note is searchable when this returns.
        To correct a stale fact, give the old note's path as `supersedes`: it is then left out of search.
        `similar` in the answer lists stored text this nearly duplicates; `on_duplicate` "skip" then
        writes nothing and "merge" appends to the most similar note instead ("write": write anyway)."""

        async def run() -> dict[str, Any]:
            access_of(ctx.request_context.request).require_write(vault)
            svc = current()
            done = await remember_note(
                svc.memory,
                vault,
                path,
                content=content,
                frontmatter=frontmatter,
                append=append,
                supersedes=supersedes,
                on_duplicate=on_duplicate,
                threshold=svc.settings.qmdr_duplicate_threshold,
            )
            return {
                "vault": done.vault,
                "path": done.path,
                "action": done.action,
                "created": bool(done.write and done.write.created),
                "chunks": done.write.summary.chunks if done.write else 0,
                "similar": [s.to_dict() for s in done.similar],
                "superseded": done.superseded,
            }

        return await guarded(run)

    @server.tool()
    async def status(ctx: Context) -> dict[str, Any]:
        """The vaults this server holds (that the caller can read), with note and chunk counts, and the
        embedding model."""

        async def run() -> dict[str, Any]:
            svc = current()
            hub = svc.memory
            access = access_of(ctx.request_context.request)
            return {
                "version": __version__,
                "embedding": {"model": svc.embedder.model_id, "dim": svc.embedder.dim},
                "vaults": [
                    {"name": v.name, "folder": str(v.folder), **hub.stats(v.name)}
                    for v in hub.list()
                    if access.can_read(v.name)
                ],
            }

        return await guarded(run)

    return server


def mcp_http_app(server: MCPServer, settings: Settings, host: str) -> McpBearerAuth:
    """The streamable-HTTP app at ``/mcp`` behind the API's bearer tokens (``qmdr.api.mcp_auth``)."""
    return McpBearerAuth(server.streamable_http_app(streamable_http_path=MCP_HTTP_PATH, host=host), settings)


def run_mcp(settings: Settings, *, http: bool = False, host: str | None = None, port: int | None = None) -> None:
    """Serve MCP over stdio (default) or streamable HTTP at ``http://host:port/mcp``."""
    server = create_mcp_server(settings)
    if not http:
        server.run("stdio")
        return
    import uvicorn

    host = host or settings.qmdr_host
    app = mcp_http_app(server, settings, host)
    try:
        uvicorn.run(app, host=host, port=port or settings.qmdr_mcp_port, log_level=settings.qmdr_log_level.lower())
    finally:
        app.close()
