"""The ``qmdr`` command line: index, search, serve, status (and providers, models, chat, bench).

Each command's docstring is its ``--help``. Domain errors become one-line
messages with a non-zero exit code; nothing prints a traceback at a user.
"""

# No ``from __future__ import annotations``: typer reads every command's signature on each call, and
# string annotations would be compiled and evaluated each time (about 4% of a `qmdr search`'s CPU).

import gc
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qmdr.cli import render
from qmdr.cli.bench import bench_app
from qmdr.cli.common import JsonOpt, console, domain_errors_fail, err_console, fail, load_settings, run_async
from qmdr.cli.filters import AfterOpt, BeforeOpt, WhereOpt, cli_filters
from qmdr.cli.memory import context_command, mcp_command, search_vaults, vault_app, watch_command
from qmdr.cli.memory_io import backup_command, export_command, import_app, restore_command
from qmdr.cli.providers import chat as chat_command
from qmdr.cli.providers import models_app, providers_app
from qmdr.cli.tokens import tokens_app

if TYPE_CHECKING:
    from qmdr.service import Service
    from qmdr.settings import Settings

app = typer.Typer(
    help="qmdr: semantic memory search for AI agents over markdown vaults.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(providers_app, name="providers")
app.add_typer(models_app, name="models")
app.command("chat")(chat_command)
app.add_typer(vault_app, name="vault")
app.add_typer(tokens_app, name="tokens")
app.add_typer(bench_app, name="bench")
app.command("watch")(watch_command)
app.command("mcp")(mcp_command)
app.command("context")(context_command)
app.add_typer(import_app, name="import")
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("export")(export_command)


def build_service(settings: "Settings") -> "Service":
    from qmdr.service import Service

    with domain_errors_fail():
        return Service.from_settings(settings)


#: ``--index FILE`` used to point the default vault at another index file, and the folder indexed into
#: it became the default vault's folder; it is refused now with this replacement
INDEX_OPTION_GONE = (
    "--index was removed: it re-pointed the default vault. The default vault's index file is "
    "QMDR_INDEX_PATH (or QMDR_INDEX_NAME under QMDR_DATA_DIR); to index another folder into an "
    "index of its own, register it as a vault: `qmdr vault add NAME FOLDER` (then "
    "`qmdr search QUERY --vault NAME`)"
)
IndexOpt = Annotated[Path | None, typer.Option("--index", hidden=True, help="removed; see `qmdr vault add`")]


def refuse_index_option(index_path: Path | None) -> None:
    if index_path is not None:
        raise fail(INDEX_OPTION_GONE, 2)


@app.command()
def index(
    vault: Annotated[
        Path | None,
        typer.Argument(
            help="a vault's folder (default: the default vault's folder, QMDR_VAULT or the folder it was first "
            "indexed from)"
        ),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option(help="drop all vectors and re-embed (after an embedding model change)")
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="index a folder without notes even if that empties an index that has notes"),
    ] = False,
    as_json: JsonOpt = False,
    show_skipped: Annotated[bool, typer.Option("--show-skipped", help="list skipped files and warnings")] = False,
    index_path: IndexOpt = None,
) -> None:
    """Index a vault's folder: only new or changed chunks are embedded; deleted notes are removed.

    Without a folder, the default vault's. A folder is indexed into the vault whose folder it is; the first
    folder indexed while QMDR_VAULT is unset becomes the default vault's folder. A folder without notes is
    refused over an index that has notes, unless --allow-empty."""
    from qmdr.memory.vaults import DEFAULT_VAULT

    refuse_index_option(index_path)
    service = build_service(load_settings())

    async def go() -> Any:
        hub = service.memory
        try:
            name, first = hub.vault_for_folder(vault) if vault is not None else (DEFAULT_VAULT, None)
            folder = first or hub.info(name).folder
            if as_json or not sys.stderr.isatty():
                return (
                    name,
                    folder,
                    await hub.reindex(name, rebuild=rebuild, allow_empty=allow_empty, first_folder=first),
                )
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("scanning", total=None)

                def progress(event: dict[str, Any]) -> None:
                    bar.update(
                        task,
                        description=str(event.get("phase", "indexing")),
                        completed=event.get("done", 0),
                        total=event.get("total") or None,
                    )

                return (
                    name,
                    folder,
                    await hub.reindex(
                        name, rebuild=rebuild, allow_empty=allow_empty, progress=progress, first_folder=first
                    ),
                )
        finally:
            await service.aclose()

    name, folder, summary = run_async(go())
    data = summary.to_dict()
    if as_json:
        print(json.dumps({"vault": name, "folder": str(folder), **data}, indent=2, default=str))
        return
    counts = [
        (key, f"{data[key]:.2f}" if isinstance(data[key], float) else data[key])
        for key in ("added", "changed", "removed", "unchanged", "skipped", "embedded", "chunks", "seconds")
        if key in data
    ]
    console.print(
        render.key_values(f"Indexed vault {name} ({folder})", [*counts, ("warnings", len(data.get("warnings", [])))])
    )
    if show_skipped:
        for item in data.get("skipped_files", []):
            render.say(console, f"skipped {item['path']}: {item['reason']}")
        for path, message in data.get("warnings", []):
            render.say(console, f"warning {path}: {message}")
    elif data.get("skipped") or data.get("warnings"):
        render.say(console, "--show-skipped lists skipped files and warnings", "dim")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what to look for")],
    mode: Annotated[str, typer.Option(help="keyword | vector | hybrid")] = "hybrid",
    k: Annotated[int, typer.Option("-k", help="number of results (1-100)")] = 10,
    path_prefix: Annotated[str | None, typer.Option("--path", help="only notes under this path")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="only notes with this tag (repeatable)")] = None,
    where: WhereOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    rerank: Annotated[
        bool | None, typer.Option("--rerank/--no-rerank", help="LLM rerank (default: when configured)")
    ] = None,
    expand: Annotated[bool, typer.Option("--expand", help="also search LLM-written alternative phrasings")] = False,
    as_json: JsonOpt = False,
    index_path: IndexOpt = None,
    vault: Annotated[
        list[str] | None, typer.Option("--vault", help="search these vaults ('all' for every vault)")
    ] = None,
    group_by_note: Annotated[bool, typer.Option("--group-by-note", help="one best chunk per note")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="show each stage's contribution per result")] = False,
    include_superseded: Annotated[
        bool, typer.Option("--include-superseded", help="also notes replaced by a newer one (superseded_by)")
    ] = False,
) -> None:
    """Search the default vault: hybrid (BM25 + vectors, fused) by default; --vault searches named vaults."""
    from qmdr.memory.vaults import DEFAULT_VAULT
    from qmdr.search.searcher import MAX_K, MAX_QUERY_CHARS  # the service imports it anyway (not the API)

    refuse_index_option(index_path)
    if not query.strip():
        raise fail("the query is empty", 2)
    if len(query) > MAX_QUERY_CHARS:
        raise fail(f"the query is longer than {MAX_QUERY_CHARS} characters", 2)
    if mode not in ("keyword", "vector", "hybrid"):
        raise fail("--mode must be keyword, vector or hybrid", 2)
    if not 1 <= k <= MAX_K:
        raise fail(f"-k must be between 1 and {MAX_K}", 2)
    filters = cli_filters(path_prefix=path_prefix, tags=tag or (), where=where or (), after=after, before=before)
    if vault or group_by_note or explain:  # the multi-vault search (qmdr.cli.memory)
        return search_vaults(
            load_settings(),
            query,
            vaults=vault,
            mode=mode,
            k=k,
            filters=filters,
            rerank=rerank,
            expand=expand,
            group_by_note=group_by_note,
            explain=explain,
            as_json=as_json,
            include_superseded=include_superseded,
        )
    service = build_service(load_settings())

    async def go() -> Any:
        try:
            return await service.memory.search_vault(
                DEFAULT_VAULT,
                query,
                mode=mode,
                k=k,
                rerank=rerank,
                expand=expand,
                filters=filters,
                include_superseded=include_superseded,
            )
        finally:
            await service.aclose()

    response = run_async(go())
    if as_json:
        print(
            json.dumps(
                {
                    "query": query,
                    "mode": mode,
                    "reranked": response.reranked,
                    "warnings": list(response.warnings),
                    "timings_ms": response.timings_ms,
                    "results": [
                        {
                            "path": r.path,
                            "title": r.title,
                            "heading_trail": list(r.heading_trail),
                            "start_line": r.start_line,
                            "end_line": r.end_line,
                            "score": r.score,
                            "snippet": r.snippet,
                            "ranks": r.ranks,
                            "scores": r.scores,
                        }
                        for r in response.results
                    ],
                },
                indent=2,
            )
        )
        return
    render.warn(err_console, response.warnings)
    if not response.results:
        console.print("no results")
        return
    console.print(render.search_table(response.results, response.timings_ms.get("total", 0)))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default QMDR_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default QMDR_PORT, 8181)")] = None,
    index_path: IndexOpt = None,
    watch: Annotated[bool, typer.Option("--watch", help="follow the vault folders and reindex changed notes")] = False,
) -> None:
    """Serve the HTTP API (and dashboard) for agents; OpenAPI docs at /docs."""
    import uvicorn

    from qmdr.api.app import create_app

    refuse_index_option(index_path)
    settings = load_settings(qmdr_host=host, qmdr_port=port, qmdr_watch=watch or None)
    bind = settings.qmdr_host
    if settings.qmdr_api_token is None and bind not in ("127.0.0.1", "localhost", "::1"):
        render.say(err_console, f"QMDR_API_TOKEN is not set: binding to 127.0.0.1 instead of {bind}", "yellow")
        bind = "127.0.0.1"
    elif settings.qmdr_api_token is None:
        err_console.print("QMDR_API_TOKEN is not set: serving on 127.0.0.1 only, without auth")
    from qmdr.observability import configure_logging

    configure_logging(settings.qmdr_log_level, settings.qmdr_log_format)  # QMDR_LOG_FORMAT=json: JSON lines
    if settings.qmdr_database_url:
        check_database(settings)
    uvicorn.run(
        create_app(settings),
        host=bind,
        port=settings.qmdr_port,
        log_level=settings.qmdr_log_level.lower(),
        log_config=None,  # uvicorn's loggers propagate to our one handler
        proxy_headers=False,
    )  # uvicorn would trust X-Forwarded-For from 127.0.0.1; the app trusts QMDR_TRUSTED_PROXIES


def check_database(settings: "Settings") -> None:
    """Refuse to serve when PostgreSQL cannot be reached or is too old: one line naming QMDR_DATABASE_URL, exit 1.

    Checked before the server starts so the user reads the reason, not a traceback
    from the app's start-up; the message names the host and database, never the password.
    """
    from qmdr.errors import QmdrError
    from qmdr.store.factory import open_vault_store

    try:
        open_vault_store(settings, "default").close()
    except QmdrError as exc:
        raise fail(f"cannot start: {exc.message}") from None


@app.command()
def status(as_json: JsonOpt = False, index_path: IndexOpt = None) -> None:
    """Show the effective configuration (key sources, never values) and index counts."""
    refuse_index_option(index_path)
    service = build_service(load_settings())
    try:
        with domain_errors_fail():  # the index opens here (PostgreSQL down: one line, no traceback)
            info = service.health()
    finally:
        run_async(service.aclose())
    if as_json:
        print(json.dumps(info, indent=2, default=str))
        return
    pairs = [
        (f"{section}.{key}{'.' + part if part else ''}", shown)
        for section in ("embedding", "rerank", "index")
        for key, value in info[section].items()
        for part, shown in (value.items() if isinstance(value, dict) else [("", value)])
    ]
    console.print(render.key_values("qmdr status", [*pairs, ("store", info["store"])]))


def main() -> None:
    try:
        app()
    finally:
        # The process exits next, and the interpreter's last garbage collections would walk every object
        # the imports made: about 50 ms, a sixth of a keyword search. Frozen, they are skipped. Only the
        # finalisers of objects left in reference cycles go unrun, which Python never promises at exit
        # anyway: commands close their stores and files themselves, and the standard streams are flushed.
        gc.freeze()


if __name__ == "__main__":
    main()
