"""Named vaults: registry persistence, per-vault indexes, multi-vault search fused by RRF, /vaults API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from qmdr.api.app import create_app
from qmdr.memory.vaults import InvalidVault, UnknownVault, VaultExists, VaultRegistry, VaultSettings, check_vault_name
from tests.qmdr.memory_service import make_service, write_notes

ALICE = {
    "retries.md": "# Retries\n\nAlice decided uploads retry with exponential backoff.\n",
    "garden.md": "# Garden\n\nTomatoes need sun and water.\n",
}
SHARED = {
    "policy.md": "# Policy\n\nThe shared policy: retry failed jobs three times.\n",
    "lunch.md": "# Lunch\n\nFridays we eat pizza.\n",
}


def test_registry_persists_vaults_across_instances(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "alice", ALICE)
    VaultRegistry(tmp_path / "reg.sqlite").add("alice", folder, VaultSettings(description="Alice's notes"))
    again = VaultRegistry(tmp_path / "reg.sqlite")
    (info,) = again.list()
    assert info.name == "alice" and info.folder == folder.resolve()
    assert info.settings.description == "Alice's notes"
    with pytest.raises(VaultExists):
        again.add("alice", folder)
    assert again.remove("alice") is True
    assert again.list() == []


@pytest.mark.parametrize("name", ["", "Alice", "../x", "a/b", "a" * 65, "-lead", "with space"])
def test_vault_names_must_be_slugs(name: str) -> None:
    with pytest.raises(InvalidVault):
        check_vault_name(name)


def test_unknown_vault_settings_are_refused() -> None:
    with pytest.raises(InvalidVault):
        VaultSettings.from_dict({"colour": "red"})
    with pytest.raises(InvalidVault):
        VaultSettings.from_dict({"chunk_tokens": 4})


@pytest.mark.anyio
async def test_each_vault_has_its_own_index_and_search_says_which_vault(tmp_path: Path) -> None:
    service = make_service(tmp_path, write_notes(tmp_path / "alice", ALICE))
    try:
        await service.memory.reindex("default")
        hub = service.memory
        hub.add("shared", write_notes(tmp_path / "shared", SHARED))
        summary = await hub.reindex("shared")
        assert summary.added == 2
        assert hub.index_file("shared").is_file()
        assert [v.name for v in hub.list()] == ["default", "shared"]
        assert hub.stats("default")["notes"] == 2 and hub.stats("shared")["notes"] == 2

        only_shared = await hub.search("retry", vaults=["shared"], mode="keyword")
        assert {h.vault for h in only_shared.results} == {"shared"}
        assert [h.result.path for h in only_shared.results] == ["policy.md"]

        both = await hub.search("retry", mode="keyword", k=5)
        assert both.vaults == ["default", "shared"]
        found = {(h.vault, h.result.path) for h in both.results}
        assert found == {("default", "retries.md"), ("shared", "policy.md")}
        # RRF across vaults: each vault's first result scores 1/(60+1)
        assert all(abs(h.score - 1 / 61) < 1e-9 for h in both.results)
    finally:
        await service.aclose()


@pytest.mark.anyio
async def test_unknown_vault_and_removal(tmp_path: Path) -> None:
    service = make_service(tmp_path, write_notes(tmp_path / "alice", ALICE))
    try:
        hub = service.memory
        with pytest.raises(UnknownVault):
            await hub.search("x", vaults=["nope"])
        hub.add("shared", write_notes(tmp_path / "shared", SHARED))
        await hub.reindex("shared")
        index_file = hub.index_file("shared")
        await hub.remove("shared")
        assert not index_file.exists()
        assert (tmp_path / "shared" / "policy.md").is_file(), "the folder must never be touched"
        with pytest.raises(InvalidVault):
            await hub.remove("default")
    finally:
        await service.aclose()


@pytest.mark.anyio
async def test_the_first_folder_indexed_becomes_the_default_vault(tmp_path: Path) -> None:
    service = make_service(tmp_path)  # no QMDR_VAULT
    folder = write_notes(tmp_path / "notes", ALICE)
    try:
        assert service.memory.list() == []
        name, first = service.memory.vault_for_folder(folder)
        assert (name, first) == ("default", folder.resolve())
        await service.memory.reindex(name, first_folder=first)
        (default,) = service.memory.list()
        assert default.name == "default" and default.folder == folder.resolve()
    finally:
        await service.aclose()


@pytest.mark.anyio
async def test_group_by_note_keeps_one_chunk_per_note(tmp_path: Path) -> None:
    long_note = "# Backoff\n\n" + "\n\n".join(f"## Part {i}\n\n" + "retry backoff detail " * 40 for i in range(4))
    service = make_service(
        tmp_path,
        write_notes(tmp_path / "v", {"long.md": long_note, **ALICE}),
        qmdr_chunk_tokens=64,
        qmdr_chunk_overlap=0,
    )
    try:
        await service.memory.reindex("default")
        every = await service.memory.search("retry backoff", mode="keyword", k=10)
        assert [h.result.path for h in every.results].count("long.md") > 1
        grouped = await service.memory.search("retry backoff", mode="keyword", k=10, group_by_note=True)
        paths = [h.result.path for h in grouped.results]
        assert len(paths) == len(set(paths)) and "long.md" in paths and "retries.md" in paths
    finally:
        await service.aclose()


@pytest.mark.anyio
async def test_vaults_api_add_list_search_remove(tmp_path: Path) -> None:
    service = make_service(tmp_path, write_notes(tmp_path / "alice", ALICE))
    app = create_app(service.settings, service=service)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.post("/vaults/default/reindex")).status_code == 200
            write_notes(tmp_path / "outside", SHARED)
            escape = await client.post("/vaults", json={"name": "etc", "folder": str(tmp_path / "outside")})
            assert escape.status_code == 400 and escape.json()["error"] == "PathOutsideVault"
            service.settings.qmdr_vault_roots = [tmp_path]
            created = await client.post("/vaults", json={"name": "shared", "folder": str(tmp_path / "shared")})
            assert created.status_code == 404  # inside the roots, but the folder does not exist yet
            write_notes(tmp_path / "shared", SHARED)
            created = await client.post("/vaults", json={"name": "shared", "folder": str(tmp_path / "shared")})
            assert created.status_code == 201 and created.json()["index"]["notes"] == 2
            again = await client.post("/vaults", json={"name": "shared", "folder": str(tmp_path / "shared")})
            assert again.status_code == 409
            bad = await client.post("/vaults", json={"name": "Bad Name", "folder": str(tmp_path)})
            assert bad.status_code == 422
            listed = (await client.get("/vaults")).json()["vaults"]
            assert [v["name"] for v in listed] == ["default", "shared"]
            found = (await client.post("/vaults/search", json={"query": "pizza", "mode": "keyword"})).json()
            assert [(r["vault"], r["path"]) for r in found["results"]] == [("shared", "lunch.md")]
            assert 50.0 < found["results"][0]["relevance"] <= 100.0  # every query word, first place
            assert (await client.post("/vaults/search", json={"query": "x", "vaults": ["ghost"]})).status_code == 404
            assert (await client.delete("/vaults/shared")).status_code == 204
            assert (await client.get("/vaults/shared")).status_code == 404
    finally:
        await service.aclose()
