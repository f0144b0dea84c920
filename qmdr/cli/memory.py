"""Agent-memory commands: ``qmdr vault add|list|remove|index``, ``qmdr watch``, ``qmdr mcp``, ``qmdr context``,
and the multi-vault side of ``qmdr search`` (``--vault``, ``--group-by-note``, ``--explain``).

Registered on the main app in ``qmdr.cli.main``; each docstring is the command's ``--help``.
"""

# No ``from __future__ import annotations``: typer reads every command's signature on each call, and
# string annotations would be compiled and evaluated each time (about 4% of a `qmdr search`'s CPU).

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from qmdr.cli import render
from qmdr.cli.common import JsonOpt, console, err_console, fail, load_settings, run_async
from qmdr.cli.filters import AfterOpt, BeforeOpt, WhereOpt, cli_filters

if TYPE_CHECKING:
    from qmdr.settings import Settings

T = TypeVar("T")

vault_app = typer.Typer(
    help="Named vaults: one service, several folders (e.g. one per agent and a shared one).", no_args_is_help=True
)


def with_service(settings: "Settings", work: Callable[[Any], Awaitable[T]]) -> T:
    """Build the Service, run ``work(service)``, close it; domain errors become one-line CLI errors."""
    from qmdr.service import Service

    async def go() -> T:
        service = Service.from_settings(settings)
        try:
            return await work(service)
        finally:
            await service.aclose()

    return run_async(go())  # type: ignore[no-any-return]


@vault_app.command("add")
def vault_add(
    name: Annotated[str, typer.Argument(help="vault name: lower-case letters, digits, - and _")],
    folder: Annotated[Path, typer.Argument(help="the vault folder")],
    description: Annotated[str, typer.Option(help="what this vault holds")] = "",
    read_only: Annotated[bool, typer.Option("--read-only", help="agents may not write notes into it")] = False,
    chunk_tokens: Annotated[
        int | None, typer.Option(help="chunk budget for this vault (default QMDR_CHUNK_TOKENS)")
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="register only; index later with `qmdr vault index`")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a folder as a named vault (its own index under the data dir) and index it."""
    from qmdr.memory.vaults import VaultSettings

    async def work(service: Any) -> dict[str, Any]:
        hub = service.memory
        info = hub.add(
            name, folder, VaultSettings(description=description, writable=not read_only, chunk_tokens=chunk_tokens)
        )
        summary = None if no_index else (await hub.reindex(name)).to_dict()
        return {**info.to_dict(), "index": summary}

    data = with_service(load_settings(), work)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    indexed = data["index"]
    render.say(
        console, f"added vault {name} -> {data['folder']}" + (f" ({indexed['added']} notes indexed)" if indexed else "")
    )


@vault_app.command("list")
def vault_list(as_json: JsonOpt = False) -> None:
    """List the vaults with their folders and index counts."""

    async def work(service: Any) -> list[dict[str, Any]]:
        hub = service.memory
        return [{**v.to_dict(), "index": hub.stats(v.name)} for v in hub.list()]

    vaults = with_service(load_settings(), work)
    if as_json:
        print(json.dumps(vaults, indent=2, default=str))
        return
    console.print(
        render.table(
            "vaults",
            ("name", "folder", "notes", "chunks", "writable"),
            [
                (
                    v["name"],
                    v["folder"],
                    v["index"]["notes"],
                    v["index"]["chunks"],
                    "yes" if v["settings"]["writable"] else "no",
                )
                for v in vaults
            ],
        )
    )


@vault_app.command("remove")
def vault_remove(name: Annotated[str, typer.Argument(help="vault name")]) -> None:
    """Forget a named vault and delete its index (the folder and its notes are left untouched)."""

    async def work(service: Any) -> None:
        await service.memory.remove(name)

    with_service(load_settings(), work)
    render.say(console, f"removed vault {name} (its folder was not touched)")


@vault_app.command("index")
def vault_index(
    name: Annotated[str, typer.Argument(help="vault name")],
    rebuild: Annotated[bool, typer.Option(help="drop all vectors and re-embed")] = False,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="index a folder without notes even if that empties an index that has notes"),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Reindex one vault incrementally (`qmdr vault index default` is `qmdr index`)."""

    async def work(service: Any) -> dict[str, Any]:
        return (await service.memory.reindex(name, rebuild=rebuild, allow_empty=allow_empty)).to_dict()

    data = with_service(load_settings(), work)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render.say(
            console, ", ".join(f"{k} {data[k]}" for k in ("added", "changed", "removed", "unchanged", "embedded"))
        )


def watch_command(
    debounce: Annotated[
        float | None, typer.Option(help="quiet seconds before reindexing (default QMDR_WATCH_DEBOUNCE_S)")
    ] = None,
) -> None:
    """Follow every vault folder and reindex changed notes as they change (Ctrl+C stops)."""
    from qmdr.memory.watch import VaultWatcher

    settings = load_settings(qmdr_watch_debounce_s=debounce)
    logging.basicConfig(level=settings.qmdr_log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def report(vault: str, summary: Any) -> None:
        data = summary.to_dict()
        render.say(
            err_console,
            f"{vault}: +{data['added']} ~{data['changed']} -{data['removed']} ({data['embedded']} embedded)",
        )

    async def work(service: Any) -> None:
        names = [v.name for v in service.memory.list()]
        if not names:
            raise fail("no vault to watch: set QMDR_VAULT or `qmdr vault add NAME FOLDER`")
        render.say(err_console, f"watching {', '.join(names)} (debounce {settings.qmdr_watch_debounce_s:g} s)")
        watcher = VaultWatcher(service.memory, quiet_s=settings.qmdr_watch_debounce_s, on_flush=report)
        await watcher.run()

    try:
        with_service(settings, work)
    except KeyboardInterrupt:
        err_console.print("stopped")


def mcp_command(
    http: Annotated[
        bool, typer.Option("--http", help="streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    ] = False,
    host: Annotated[str | None, typer.Option(help="bind address for --http (default QMDR_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port for --http (default QMDR_MCP_PORT, 8182)")] = None,
) -> None:
    """Serve memory to agents over MCP: tools search, get, context, remember and status."""
    from qmdr.api.mcp_server import run_mcp

    settings = load_settings(qmdr_host=host, qmdr_mcp_port=port)
    if http and settings.qmdr_host not in ("127.0.0.1", "localhost", "::1") and settings.qmdr_api_token is None:
        raise fail(
            "MCP over HTTP without QMDR_API_TOKEN has no authentication: set QMDR_API_TOKEN (callers then "
            "send it, or an agent token, as a bearer) or bind it to 127.0.0.1",
            2,
        )
    run_mcp(settings, http=http, host=host, port=port)


def context_command(
    query: Annotated[list[str] | None, typer.Argument(help="one or more queries (optional with --since)")] = None,
    budget: Annotated[int | None, typer.Option(help="token budget (default QMDR_CONTEXT_TOKENS)")] = None,
    profile: Annotated[str, typer.Option(help="brief | balanced | deep")] = "balanced",
    vault: Annotated[list[str] | None, typer.Option("--vault", help="only this vault (repeatable)")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="only notes changed after this ISO date or date-time "
            "(UTC unless it says); no query: what changed, newest first"
        ),
    ] = None,
    where: WhereOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
) -> None:
    """Print a ready-to-paste markdown memory block for the queries, within the token budget.
    With --since, an agent picks up where another left off: only notes changed after that date."""
    from qmdr.memory.context import build_context
    from qmdr.memory.handoff import parse_since

    settings = load_settings()
    if not query and since is None:
        raise fail("give a query, or --since DATE for what changed")
    filters = cli_filters(where=where or (), after=after, before=before)

    async def work(service: Any) -> Any:
        return await build_context(
            service.memory,
            query or [],
            budget=budget or settings.qmdr_context_tokens,
            profile=profile,
            vaults=vault or None,
            filters=filters,
            since=parse_since(since) if since is not None else None,
        )

    block = with_service(settings, work)
    # a terminal sees control characters as escapes; piped, the block is data and passes byte for byte
    print(render.visible(block.markdown) if sys.stdout.isatty() else block.markdown, end="")
    err_console.print(f"[dim]{block.tokens}/{block.budget} tokens, {len(block.entries)} entries[/dim]")


def search_vaults(
    settings: "Settings",
    query: str,
    *,
    vaults: list[str] | None,
    mode: str,
    k: int,
    filters: Any,
    rerank: bool | None,
    expand: bool,
    group_by_note: bool,
    explain: bool,
    as_json: bool,
    include_superseded: bool = False,
) -> None:
    """``qmdr search`` with ``--vault``, ``--group-by-note`` or ``--explain``: the multi-vault search."""

    async def work(service: Any) -> Any:
        return await service.memory.search(
            query,
            vaults=vaults,
            mode=mode,
            k=k,
            filters=filters,
            rerank=rerank,
            expand=expand,
            group_by_note=group_by_note,
            explain=explain,
            include_superseded=include_superseded,
        )

    found = with_service(settings, work)
    if as_json:
        print(
            json.dumps(
                {
                    "query": query,
                    "vaults": found.vaults,
                    "warnings": found.warnings,
                    "timings_ms": found.timings_ms,
                    "results": [
                        {
                            "vault": h.vault,
                            "path": h.result.path,
                            "title": h.result.title,
                            "heading_trail": list(h.result.heading_trail),
                            "start_line": h.result.start_line,
                            "end_line": h.result.end_line,
                            "score": h.score,
                            "relevance": h.relevance,
                            "snippet": h.result.snippet,
                            "ranks": h.result.ranks,
                            "scores": h.result.scores,
                            **({"explain": h.explain} if explain else {}),
                        }
                        for h in found.results
                    ],
                },
                indent=2,
                default=str,
            )
        )
        return
    render.warn(err_console, found.warnings)
    if not found.results:
        console.print("no results")
        return
    console.print(render.vault_search_table(found.results, found.vaults, explain))
