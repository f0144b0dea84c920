"""Backup, restore and export: consistent copies of every database (also mid-reindex), notes as plain files."""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from typer.testing import CliRunner

from qmdr.api.app import create_app
from qmdr.client import AsyncQmdrClient
from qmdr.memory.backup import MANIFEST, BackupError, backup, restore
from qmdr.memory.export import ExportError, export_folder
from qmdr.memory.hub import VaultHub
from qmdr.memory.vaults import DEFAULT_VAULT
from qmdr.service import Service
from qmdr.settings import Settings
from qmdr.store.sqlite import SqliteStore
from tests.qmdr.embedders import HashEmbedder
from tests.qmdr.memory_service import make_service, write_notes

NOTES = {
    "decisions/retries.md": "# Retries\n\nUploads retry with exponential backoff and jitter.\n",
    "journal/herons.md": "---\ntags: [birds]\n---\n# Herons\n\nGrey herons nest in heronries.\n",
    ".obsidian/workspace.md": "# hidden\n",
    "drafts/secret-plan.md": "# Ignored\n",
    ".qmdrignore": "drafts/\n",
}


@pytest.fixture
async def service(tmp_path: Path):
    service = make_service(tmp_path, write_notes(tmp_path / "vault", NOTES))
    await service.memory.reindex("default")
    named = write_notes(tmp_path / "alice", {"today.md": "# Today\n\nAlice met the falconer.\n"})
    service.memory.add("alice", named)
    await service.memory.reindex("alice")
    service.memory.feedback.record("default", "journal/herons.md", True)
    yield service
    await service.aclose()


def consistent_index(path: Path) -> dict[str, str]:
    """Open an index file, check its parts agree, and return its notes' content hashes."""
    store = SqliteStore(path)
    try:
        stats = store.stats()
        assert stats.extra["texts_without_vector"] == 0, "every chunk text has its vector"
        fts_rows = store._conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        assert fts_rows == stats.chunks, "the keyword index covers exactly the chunks"
        orphans = store._conn.execute(
            "SELECT count(*) FROM chunks WHERE note_path NOT IN (SELECT path FROM notes)"
        ).fetchone()[0]
        assert orphans == 0
        return store.note_hashes()
    finally:
        store.close()


@pytest.mark.anyio
async def test_backup_holds_every_database_and_restores_into_an_empty_data_dir(service, tmp_path: Path) -> None:
    report = await anyio.to_thread.run_sync(backup, service.settings, tmp_path / "bk")
    names = sorted(f.rel for f in report.files)
    assert names == ["default.sqlite", "feedback.sqlite", "vaults.sqlite", "vaults/alice.sqlite"]
    manifest = json.loads((tmp_path / "bk" / MANIFEST).read_text())
    assert [f["path"] for f in manifest["files"]] == [f.rel for f in report.files]
    assert not list((tmp_path / "bk").glob("**/*-wal")), "copies are self-contained"

    target = Settings(_env_file=None, qmdr_data_dir=tmp_path / "elsewhere" / "data", qmdr_vault=tmp_path / "vault")
    done = restore(target, tmp_path / "bk")
    assert len(done) == 4
    restored = make_service(tmp_path / "elsewhere", tmp_path / "vault")
    try:
        assert restored.memory.stats("alice")["notes"] == 1
        found = await restored.memory.search("falconer", vaults=["alice"], mode="keyword")
        assert [h.result.path for h in found.results] == ["today.md"]
        assert restored.memory.feedback.votes("default", ["journal/herons.md"]) == {"journal/herons.md": (1, 0)}
        assert restored.memory.stats("default")["notes"] == service.memory.stats("default")["notes"]
    finally:
        await restored.aclose()


@pytest.mark.anyio
async def test_restore_refuses_to_overwrite_without_force_and_a_damaged_backup(service, tmp_path: Path) -> None:
    backup(service.settings, tmp_path / "bk")
    with pytest.raises(BackupError, match="pass --force"):
        restore(service.settings, tmp_path / "bk")
    with pytest.raises(BackupError, match="not an empty folder"):
        backup(service.settings, tmp_path / "bk")
    # the live index moves on, then --force brings back the backed-up state, through SQLite's own journal
    (tmp_path / "vault" / "decisions" / "new.md").write_text("# New\n\nA later decision about caching.\n")
    await service.memory.reindex("default")
    assert service.memory.stats("default")["notes"] == 3
    await service.aclose()
    stale = Path(f"{service.settings.index_path}.vectors")
    stale.write_bytes(b"a snapshot of the index being replaced")
    restore(service.settings, tmp_path / "bk", force=True)
    assert not stale.exists(), "the vector snapshot cache of the replaced index is dropped"
    assert sorted(consistent_index(service.settings.index_path)) == ["decisions/retries.md", "journal/herons.md"]

    damaged = tmp_path / "bk" / "vaults" / "alice.sqlite"
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore(service.settings, tmp_path / "bk", force=True)


@pytest.mark.anyio
async def test_backups_taken_during_a_reindex_restore_to_a_consistent_index(tmp_path: Path) -> None:
    """Backups run in a loop while a reindex rewrites every note; each restores to the old or the new index."""
    old = {f"notes/n{i:03d}.md": f"# Note {i}\n\nOld text {i} about herons and retries.\n" for i in range(120)}
    vault = write_notes(tmp_path / "vault", old)
    applying, applied = threading.Event(), threading.Event()

    class SignallingStore(SqliteStore):
        """Says when the reindex's one write transaction starts and ends, so backups can aim at it."""

        def apply(self, change) -> None:  # type: ignore[no-untyped-def]
            if len(change.upserts) == len(old):
                applying.set()
            try:
                super().apply(change)
            finally:
                if applying.is_set():
                    applied.set()

    data = tmp_path / "data"
    data.mkdir()
    settings = Settings(_env_file=None, qmdr_data_dir=data, qmdr_vault=vault)
    store = SignallingStore(settings.index_path)
    embedder = HashEmbedder()
    service = Service(settings, VaultHub(settings, embedder, stores={DEFAULT_VAULT: store}))
    try:
        await service.memory.reindex("default")
        old_hashes = consistent_index(settings.index_path)
        applying.clear()
        applied.clear()  # the first index set them; aim at the second reindex's transaction
        write_notes(vault, {rel: text.replace("Old", "New") + "More lines.\n" for rel, text in old.items()})
        during: list[bool] = []

        def keep_backing_up() -> None:
            applying.wait(timeout=60)
            # a few copies while the transaction runs, then at least one after its commit; on a loaded machine
            # the transaction can outlast the first copies, so the loop then waits for the commit (sized by
            # events, not by a count that a slow machine can use up before the commit)
            for i in range(40):
                was_applying = not applied.is_set()
                backup(settings, tmp_path / f"bk{i}")
                during.append(was_applying and not applied.is_set())
                if applied.is_set() and i >= 1:
                    break
                if i >= 8:
                    applied.wait(timeout=120)

        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, keep_backing_up)
            await service.memory.reindex("default")
        # one copy certainly after the commit (the loop's last copies may still precede it on a slow machine)
        backup(settings, tmp_path / f"bk{len(during)}")
        during.append(False)
        new_hashes = consistent_index(settings.index_path)
        assert old_hashes != new_hashes
    finally:
        await service.aclose()

    seen = set()
    for i in range(len(during)):
        target = Settings(_env_file=None, qmdr_data_dir=tmp_path / f"restored{i}", qmdr_vault=vault)
        restore(target, tmp_path / f"bk{i}")
        hashes = consistent_index(target.index_path)
        assert hashes in (old_hashes, new_hashes), f"backup {i} holds a mix of old and new notes"
        seen.add("old" if hashes == old_hashes else "new")
        if during[i]:
            assert hashes == old_hashes, "a copy finished inside the write transaction sees the last commit"
    assert "new" in seen  # a copy taken after the commit restores to the new index


def test_export_writes_notes_as_plain_files_without_hidden_or_ignored_ones(tmp_path: Path) -> None:
    vault = write_notes(tmp_path / "vault", NOTES)
    report = export_folder("default", vault, tmp_path / "out")
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == ["decisions/retries.md", "journal/herons.md"] and report.notes == 2
    assert (tmp_path / "out" / "journal/herons.md").read_text() == NOTES["journal/herons.md"]
    with pytest.raises(ExportError, match="not an empty folder"):
        export_folder("default", vault, tmp_path / "out")
    with pytest.raises(ExportError, match="inside the vault folder"):
        export_folder("default", vault, vault / "export")


@pytest.mark.anyio
async def test_export_over_http_streams_a_zip_of_the_notes(service, tmp_path: Path) -> None:
    app = create_app(service.settings, service=service)
    async with AsyncQmdrClient("http://qmdr", transport=httpx.ASGITransport(app)) as client:
        saved = await client.export("default", tmp_path / "notes.zip")
        with zipfile.ZipFile(saved) as archive:
            assert sorted(archive.namelist()) == ["decisions/retries.md", "journal/herons.md"]
            assert archive.read("decisions/retries.md").decode() == NOTES["decisions/retries.md"]
        from qmdr.client import QmdrClientError

        with pytest.raises(QmdrClientError) as caught:
            await client.export("nobody", tmp_path / "none.zip")
        assert caught.value.status == 404 and not (tmp_path / "none.zip").exists()


def test_cli_backup_restore_and_export(tmp_path: Path, monkeypatch) -> None:
    from qmdr.cli.main import app

    vault = write_notes(tmp_path / "vault", NOTES)
    monkeypatch.setenv("QMDR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QMDR_VAULT", str(vault))
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(vault)]).exit_code == 0
    result = runner.invoke(app, ["backup", str(tmp_path / "bk"), "--json"])
    assert result.exit_code == 0, result.output
    assert "default.sqlite" in [f["path"] for f in json.loads(result.stdout)["files"]]
    result = runner.invoke(app, ["restore", str(tmp_path / "bk")])
    assert result.exit_code == 1 and "--force" in result.output
    assert runner.invoke(app, ["restore", str(tmp_path / "bk"), "--force"]).exit_code == 0
    result = runner.invoke(app, ["export", "default", str(tmp_path / "notes.zip"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["notes"] == 2
    result = runner.invoke(app, ["restore", str(tmp_path / "nothing-here")])
    assert result.exit_code == 1 and "not a qmdr backup" in result.output


@pytest.mark.postgres
@pytest.mark.anyio
async def test_on_postgres_the_documented_pg_dump_round_trip_restores_every_vault(tmp_path: Path, pg_server) -> None:
    """With QMDR_DATABASE_URL, `qmdr backup` keeps the local files and says to use pg_dump; the README's
    pg_dump / pg_restore commands then bring the vaults back into an empty database."""
    import subprocess

    import pgserver

    bin_dir = Path(pgserver.__file__).parent / "pginstall" / "bin"
    source_name, source_url = pg_server.create_database()
    target_name, target_url = pg_server.create_database()
    try:
        vault = write_notes(tmp_path / "vault", NOTES)
        service = make_service(tmp_path, vault, qmdr_database_url=source_url)
        try:
            await service.memory.reindex("default")
            report = await anyio.to_thread.run_sync(backup, service.settings, tmp_path / "bk")
        finally:
            await service.aclose()
        assert all(not f.rel.startswith("index/") and f.rel != "default.sqlite" for f in report.files)
        assert any("pg_dump" in note for note in report.notes)

        dump = tmp_path / "qmdr.dump"
        subprocess.run(
            [str(bin_dir / "pg_dump"), "-Fc", "-d", source_url, "-f", str(dump)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [str(bin_dir / "pg_restore"), "--clean", "--if-exists", "-d", target_url, str(dump)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        restored = make_service(tmp_path / "restored", vault, qmdr_database_url=target_url)
        try:
            found = await restored.memory.search("heronries", mode="keyword")
            assert [h.result.path for h in found.results] == ["journal/herons.md"]
            assert restored.memory.stats("default")["notes"] == 2
        finally:
            await restored.aclose()
    finally:
        pg_server.drop_database(source_name)
        pg_server.drop_database(target_name)
