"""Getting memory in and out: ``qmdr import chatgpt|claude``, ``qmdr backup``, ``qmdr restore``, ``qmdr export``.

Registered on the main app in ``qmdr.cli.main``; each docstring is the command's ``--help``.
"""

# No ``from __future__ import annotations``: typer reads every command's signature on each call, and
# string annotations would be compiled and evaluated each time (about 4% of a `qmdr search`'s CPU).

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from qmdr.cli.common import JsonOpt, console, fail, load_settings
from qmdr.cli.memory import with_service
from qmdr.util.terminal_text import literal

import_app = typer.Typer(help="Import chat exports as notes: one note per conversation.", no_args_is_help=True)

VaultOpt = Annotated[str, typer.Option("--vault", help="the vault the notes go into")]
FolderOpt = Annotated[str, typer.Option("--folder", help="vault folder for the notes (then one folder per source)")]


def _import(source: str, export: Path, vault: str, folder: str, as_json: bool) -> None:
    from qmdr.memory.conversations import BadExport, read_export
    from qmdr.memory.importer import import_conversations

    if not export.is_file():
        raise fail(f"{export} is not a file" if export.exists() else f"{export} does not exist")
    try:
        conversations = read_export(source, export)
    except BadExport as exc:
        raise fail(f"nothing imported: {exc.message}") from None

    async def work(service: Any) -> dict[str, Any]:
        outcome = await import_conversations(service.memory, vault, source, conversations, folder=folder)
        return outcome.to_dict()

    data = with_service(load_settings(), work)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    console.print(
        literal(
            f"{data['conversations']} conversations from {export.name} into vault {vault}: "
            f"{len(data['written'])} written, {len(data['unchanged'])} unchanged, "
            f"{len(data['skipped_empty'])} empty ones skipped"
        )
    )


@import_app.command("chatgpt")
def import_chatgpt(
    export: Annotated[Path, typer.Argument(help="the export ZIP from ChatGPT (or its conversations.json)")],
    vault: VaultOpt = "default",
    folder: FolderOpt = "conversations",
    as_json: JsonOpt = False,
) -> None:
    """Import a ChatGPT data export: each conversation (the branch last shown) becomes one note.
    Re-importing updates the same notes; a malformed export writes nothing."""
    _import("chatgpt", export, vault, folder, as_json)


@import_app.command("claude")
def import_claude(
    export: Annotated[Path, typer.Argument(help="conversations.json from a Claude data export (or the ZIP)")],
    vault: VaultOpt = "default",
    folder: FolderOpt = "conversations",
    as_json: JsonOpt = False,
) -> None:
    """Import a Claude data export: each conversation becomes one note.
    Re-importing updates the same notes; a malformed export writes nothing."""
    _import("claude", export, vault, folder, as_json)


def backup_command(
    dest: Annotated[Path, typer.Argument(help="a new (or empty) folder for the backup")],
    as_json: JsonOpt = False,
) -> None:
    """Copy every index, the vault registry, feedback and the settings store to DEST, consistently,
    also while `qmdr serve` runs (SQLite's online backup). With PostgreSQL, back the database up with pg_dump."""
    from qmdr.errors import QmdrError
    from qmdr.memory.backup import backup

    try:
        report = backup(load_settings(), dest)
    except QmdrError as exc:
        raise fail(exc.message) from None
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    size = sum(f.size for f in report.files)
    console.print(
        literal(
            f"backed up {len(report.files)} databases ({size / 1e6:.1f} MB) to {str(report.folder)} "
            f"in {report.seconds:.1f} s"
        )
    )
    for note in report.notes:
        console.print(literal(f"note: {note}"))


def restore_command(
    src: Annotated[Path, typer.Argument(help="a folder written by `qmdr backup`")],
    force: Annotated[bool, typer.Option("--force", help="replace existing databases (stop the server first)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bring back a backup written by `qmdr backup` (checksums verified first). Refuses to replace
    existing databases unless --force; stop the server before restoring."""
    from qmdr.errors import QmdrError
    from qmdr.memory.backup import restore

    try:
        done = restore(load_settings(), src, force=force)
    except QmdrError as exc:
        raise fail(exc.message) from None
    if as_json:
        print(json.dumps({"restored": [{"path": rel, "target": str(target)} for rel, target in done]}, indent=2))
        return
    for rel, target in done:
        console.print(literal(f"restored {rel} -> {str(target)}"))


def export_command(
    vault: Annotated[str, typer.Argument(help="the vault to export")],
    dest: Annotated[Path, typer.Argument(help="a new folder (or a file name ending in .zip)")],
    as_json: JsonOpt = False,
) -> None:
    """Write a vault's notes as plain markdown files (same folders and names) to DEST, or a ZIP of them."""
    from qmdr.memory.export import export_folder, export_zip_file

    async def work(service: Any) -> dict[str, Any]:
        folder = service.memory.info(vault).folder
        if dest.suffix.lower() == ".zip":
            report = export_zip_file(vault, folder, dest)
        else:
            report = export_folder(vault, folder, dest)
        return {"vault": vault, "dest": str(report.dest), "notes": report.notes, "bytes": report.bytes}

    data = with_service(load_settings(), work)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    console.print(literal(f"exported {data['notes']} notes of vault {vault} to {data['dest']}"))
