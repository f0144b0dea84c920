"""Writing memory: create/update/delete a note, confined to its vault, atomic, reindexed before answering."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
import yaml

from qmdr.api.app import create_app
from qmdr.errors import NotFound
from qmdr.memory.notes_write import delete_note, merge_note_text, write_note
from qmdr.memory.vaults import InvalidVault, VaultSettings
from tests.qmdr.memory_service import make_service, write_notes
from vault import PathOutsideVault
from vault.frontmatter import split_frontmatter

NOTES = {"existing.md": "---\ntitle: Existing\ntags: [a]\nowner: alice\n---\n# Existing\n\nOld body about herons.\n"}


def test_merge_keeps_existing_frontmatter_and_removes_null_keys() -> None:
    text = merge_note_text(
        NOTES["existing.md"],
        content="New body about falcons.\n",
        frontmatter={"tags": ["a", "b"], "owner": None, "status": "done"},
    )
    split = split_frontmatter(text)
    assert split.frontmatter == {"title": "Existing", "tags": ["a", "b"], "status": "done"}
    assert split.body == "New body about falcons.\n"


def test_merge_appends_to_the_body() -> None:
    text = merge_note_text(NOTES["existing.md"], content="- second entry", frontmatter=None, append=True)
    body = split_frontmatter(text).body
    assert body.startswith("# Existing") and body.rstrip().endswith("- second entry")
    assert "Old body about herons." in body


def test_content_frontmatter_is_merged_too() -> None:
    text = merge_note_text(None, content="---\nkind: decision\n---\nBody\n", frontmatter={"by": "bob"})
    assert split_frontmatter(text).frontmatter == {"kind": "decision", "by": "bob"}


@pytest.fixture
async def service(tmp_path: Path):
    service = make_service(tmp_path, write_notes(tmp_path / "vault", NOTES))
    await service.memory.reindex("default")
    yield service
    await service.aclose()


@pytest.mark.anyio
async def test_write_creates_note_and_next_search_sees_it(service, tmp_path: Path) -> None:
    outcome = await write_note(
        service.memory,
        "default",
        "decisions/retries",
        content="# Retries\n\nUse jitter.\n",
        frontmatter={"tags": ["decision"]},
    )
    assert outcome.created and outcome.path == "decisions/retries.md"
    assert outcome.summary.added == 1 and outcome.summary.embedded >= 1
    found = await service.memory.search("jitter", mode="keyword")
    assert [h.result.path for h in found.results] == ["decisions/retries.md"]
    note = service.memory.get_note("default", "decisions/retries.md")
    assert note["tags"] == ["decision"]
    assert not [p for p in (tmp_path / "vault").rglob("*") if p.name.startswith(".qmdr-write-")]


@pytest.mark.anyio
async def test_update_merges_frontmatter_and_replaces_body(service, tmp_path: Path) -> None:
    outcome = await write_note(
        service.memory, "default", "existing.md", content="Falcons now.\n", frontmatter={"status": "reviewed"}
    )
    assert not outcome.created and outcome.summary.changed == 1
    text = (tmp_path / "vault" / "existing.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert meta == {"title": "Existing", "tags": ["a"], "owner": "alice", "status": "reviewed"}
    assert (await service.memory.search("herons", mode="keyword")).results == []
    assert [h.result.path for h in (await service.memory.search("falcons", mode="keyword")).results] == ["existing.md"]


@pytest.mark.parametrize(
    "path",
    [
        "../escape.md",
        "/etc/passwd",
        "a/../../escape.md",
        "..\\escape.md",
        "C:/x.md",
        ".hidden/note.md",
        "notes/.secret.md",
        "picture.png",
        "ignored/x.md",
        "",
    ],
)
@pytest.mark.anyio
async def test_paths_outside_the_vault_or_unindexable_are_rejected(service, tmp_path: Path, path: str) -> None:
    (tmp_path / "vault" / ".qmdrignore").write_text("ignored/\n")
    with pytest.raises(PathOutsideVault):
        await write_note(service.memory, "default", path, content="x")
    assert not (tmp_path / "escape.md").exists()


@pytest.mark.anyio
async def test_symlink_leading_out_of_the_vault_is_rejected(service, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / "vault" / "link")
    with pytest.raises(PathOutsideVault):
        await write_note(service.memory, "default", "link/pwned.md", content="x")
    assert list(outside.iterdir()) == []


@pytest.mark.anyio
async def test_concurrent_updates_of_one_note_all_land(service, tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(8)]
    await asyncio.gather(
        *(write_note(service.memory, "default", "existing.md", frontmatter={key: i}) for i, key in enumerate(keys))
    )
    meta = split_frontmatter((tmp_path / "vault" / "existing.md").read_text()).frontmatter
    assert all(meta[key] == i for i, key in enumerate(keys))
    assert service.memory.get_note("default", "existing.md")["frontmatter"]["k7"] == 7


@pytest.mark.anyio
async def test_delete_removes_file_and_index_entry(service, tmp_path: Path) -> None:
    outcome = await delete_note(service.memory, "default", "existing.md")
    assert outcome.deleted and outcome.summary.removed == 1
    assert not (tmp_path / "vault" / "existing.md").exists()
    assert (await service.memory.search("herons", mode="keyword")).results == []
    with pytest.raises(NotFound):
        await delete_note(service.memory, "default", "existing.md")


@pytest.mark.anyio
async def test_read_only_vault_refuses_writes(service, tmp_path: Path) -> None:
    service.memory.add("archive", write_notes(tmp_path / "archive", NOTES), VaultSettings(writable=False))
    with pytest.raises(InvalidVault):
        await write_note(service.memory, "archive", "new.md", content="x")
    assert not (tmp_path / "archive" / "new.md").exists()


@pytest.mark.anyio
async def test_notes_api_write_get_delete_and_escape(service) -> None:
    app = create_app(service.settings, service=service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        written = await client.post(
            "/vaults/default/notes",
            json={"path": "log/today", "content": "# Today\n\nkiwi", "frontmatter": {"agent": "alice"}},
        )
        assert written.status_code == 200, written.text
        assert written.json()["path"] == "log/today.md" and written.json()["created"] is True
        note = (await client.get("/vaults/default/notes/log/today.md")).json()
        assert note["frontmatter"] == {"agent": "alice"} and "kiwi" in note["chunks"][0]["text"]
        escaped = await client.post("/vaults/default/notes", json={"path": "../../x.md", "content": "x"})
        assert escaped.status_code == 400 and escaped.json()["error"] == "PathOutsideVault"
        assert (await client.post("/vaults/ghost/notes", json={"path": "x.md", "content": "x"})).status_code == 404
        deleted = await client.delete("/vaults/default/notes/log/today.md")
        assert deleted.status_code == 200 and deleted.json()["index"]["removed"] == 1
        assert (await client.get("/vaults/default/notes/log/today.md")).status_code == 404


@pytest.mark.anyio
async def test_a_note_written_without_a_suffix_reads_and_deletes_by_the_same_name(service) -> None:
    """Written as ``log/today`` (stored as ``log/today.md``): read and deleted as ``log/today`` too."""
    app = create_app(service.settings, service=service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        written = await client.post("/vaults/default/notes", json={"path": "log/today", "content": "# Today\n\nkiwi"})
        assert written.status_code == 200 and written.json()["path"] == "log/today.md"
        for name in ("log/today", "log/today.md", "./log//today"):
            read = await client.get(f"/vaults/default/notes/{name}")
            assert read.status_code == 200, (name, read.text)
            assert read.json()["path"] == "log/today.md"
        assert (await client.get("/notes/log/today")).json()["path"] == "log/today.md"  # the default vault's route
        assert (await client.get("/vaults/default/notes/log/today.txt")).status_code == 404
        deleted = await client.delete("/vaults/default/notes/log/today")
        assert deleted.status_code == 200 and deleted.json()["path"] == "log/today.md"
        assert (await client.get("/vaults/default/notes/log/today")).status_code == 404


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("log/today", "log/today.md"),
        ("log/today.md", "log/today.md"),
        (" ./log//today ", "log/today.md"),
        ("a\\b", "a/b.md"),
        ("n.markdown", "n.markdown"),
        ("data.csv", "data.csv"),
    ],
)
def test_note_key_is_the_one_normalisation(given: str, key: str) -> None:
    from qmdr.memory.notes_write import note_key

    assert note_key(given) == key


def test_names_longer_than_the_file_system_allows_are_refused(tmp_path) -> None:
    from qmdr.memory.notes_write import MAX_NAME_BYTES, note_rel_path
    from vault.errors import PathOutsideVault

    with pytest.raises(PathOutsideVault, match="longer than"):
        note_rel_path(tmp_path, "x" * (MAX_NAME_BYTES + 1) + ".md")
    with pytest.raises(PathOutsideVault, match="longer than"):
        note_rel_path(tmp_path, "é" * 128 + "/note.md")  # 256 bytes in UTF-8
    key, target = note_rel_path(tmp_path, "ok/" + "y" * (MAX_NAME_BYTES - 3) + ".md")
    assert target == tmp_path / key
