"""One memory model over real sockets: ``default`` is a vault like any other, its single-vault routes are
aliases of the ``/vaults/default/...`` forms, and the seams a newcomer hit answer clearly (issue 14)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.qmdr.live_server import live_server
from tests.qmdr.memory_service import make_service, write_notes

NOTES = {
    "retries.md": "# Retries\n\nUploads retry with exponential backoff.\n",
    "garden.md": "# Garden\n\nTomatoes need sun and water.\n",
}
#: a background reindex of two notes with the hashing embedder takes milliseconds; this only stops a hang
JOB_LIMIT_S = 60.0


def wait_for_job(client: httpx.Client) -> dict:
    deadline = time.monotonic() + JOB_LIMIT_S
    while (status := client.get("/reindex/status").json())["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def test_reindex_without_body_uses_the_folder_the_default_vault_was_first_indexed_from(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", NOTES)
    with (
        live_server(make_service(tmp_path, qmdr_vault_roots=[tmp_path])) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        missing = client.post("/reindex")
        assert missing.status_code == 404 and missing.json()["error"] == "UnknownVault"
        assert "QMDR_VAULT" in missing.json()["detail"] and "qmdr index PATH" in missing.json()["detail"]
        assert client.post("/reindex", json={"vault": str(folder)}).status_code == 202
        assert wait_for_job(client)["state"] == "done"
    # a restart without QMDR_VAULT: the registry remembers the folder
    (folder / "new.md").write_text("# New\n\nHerons nest by the lake.\n")
    with live_server(make_service(tmp_path)) as base, httpx.Client(base_url=base, timeout=30) as client:
        for body in (None, {}):
            started = client.post("/reindex", json=body) if body is not None else client.post("/reindex")
            assert started.status_code == 202, started.text
            assert started.json()["name"] == "default" and started.json()["vault"] == str(folder.resolve())
            assert wait_for_job(client)["state"] == "done"
        assert client.get("/vaults/default").json()["index"]["notes"] == 3
        hits = client.post("/search", json={"query": "herons", "mode": "keyword"}).json()["results"]
        assert [h["path"] for h in hits] == ["new.md"]


def test_single_vault_routes_answer_as_their_vaults_default_forms(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", NOTES)
    with live_server(make_service(tmp_path, folder)) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/vaults/default/reindex", json={"background": True}).status_code == 202
        job = wait_for_job(client)
        assert job["state"] == "done" and job["name"] == "default" and job["summary"]["added"] == 2
        query = {"query": "exponential backoff", "mode": "keyword", "k": 3}
        alias = client.post("/search", json=query).json()
        full = client.post("/vaults/default/search", json=query).json()
        assert [h["path"] for h in alias["results"]] == [h["path"] for h in full["results"]] == ["retries.md"]
        assert set(alias) == set(full) and "vault" not in alias["results"][0]  # the /search shape, kept
        assert alias["results"][0]["score"] == pytest.approx(full["results"][0]["score"])
        assert client.get("/notes/garden.md").json() == client.get("/vaults/default/notes/garden.md").json()
        # a note written through /vaults/default is what the aliases read
        written = client.post("/vaults/default/notes", json={"path": "log/today", "content": "Kingfisher seen."})
        assert written.status_code == 200
        assert client.get("/notes/log/today.md").json()["path"] == "log/today.md"
        assert client.post("/vaults/nope/search", json=query).status_code == 404


def test_a_folder_without_notes_never_silently_empties_a_vault(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", NOTES)
    with live_server(make_service(tmp_path, folder)) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/vaults/default/reindex").json()["added"] == 2
        for note in NOTES:
            (folder / note).unlink()
        (folder / "readme.txt").write_text("not a note")
        for refused in (
            client.post("/vaults/default/reindex"),
            client.post("/reindex", json={}),
            client.post("/vaults/default/reindex", json={"background": True}),
        ):
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"] == "EmptyFolderRefused"
            assert "has no notes" in refused.json()["detail"] and "allow_empty" in refused.json()["detail"]
        assert client.get("/reindex/status").json()["state"] == "idle"  # refused before starting
        assert client.get("/vaults/default").json()["index"]["notes"] == 2  # nothing lost
        emptied = client.post("/vaults/default/reindex", json={"allow_empty": True})
        assert emptied.status_code == 200 and emptied.json()["removed"] == 2
        assert client.get("/vaults/default").json()["index"]["notes"] == 0
        # an empty folder over an empty index is no loss: allowed without the flag
        assert client.post("/vaults/default/reindex").status_code == 200


def test_a_file_where_a_folder_is_expected_says_so(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", NOTES)
    with (
        live_server(make_service(tmp_path, qmdr_vault_roots=[tmp_path])) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        for answer in (
            client.post("/reindex", json={"vault": str(folder / "retries.md")}),
            client.post("/vaults", json={"name": "alice", "folder": str(folder / "garden.md")}),
        ):
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"] == "NotAFolder" and "is a file, not a folder" in answer.json()["detail"]
        assert client.get("/vaults").json()["vaults"] == []


def test_vault_names_taken_invalid_or_reserved_are_refused_with_the_rule(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", NOTES)
    other = write_notes(tmp_path / "other", {"x.md": "# X\n\nx\n"})
    with (
        live_server(make_service(tmp_path, folder, qmdr_vault_roots=[tmp_path])) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert client.post("/vaults", json={"name": "alice", "folder": str(other)}).status_code == 201
        taken = client.post("/vaults", json={"name": "alice", "folder": str(other)})
        assert taken.status_code == 409 and taken.json()["error"] == "VaultExists"
        default = client.post("/vaults", json={"name": "default", "folder": str(other)})
        assert default.status_code == 409 and "already exists" in default.json()["detail"]
        reserved = client.post("/vaults", json={"name": "all", "folder": str(other)})
        assert reserved.status_code == 422 and "reserved" in reserved.json()["detail"]
        assert "every vault" in reserved.json()["detail"]
        for bad in ("Alice", "../x", "a" * 65, "-x", "with space", ""):
            invalid = client.post("/vaults", json={"name": bad, "folder": str(other)})
            assert invalid.status_code == 422, bad
        assert client.get("/vaults/Bad_Name").status_code == 422
        assert "lower-case" in client.get("/vaults/Bad_Name").json()["detail"]
        removal = client.delete("/vaults/default")
        assert removal.status_code == 422 and "cannot be removed" in removal.json()["detail"]
        assert [v["name"] for v in client.get("/vaults").json()["vaults"]] == ["default", "alice"]


def test_a_folder_that_is_no_vaults_is_refused_and_a_vaults_folder_reindexes_that_vault(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes", NOTES)
    shared = write_notes(tmp_path / "shared", {"policy.md": "# Policy\n\nRetry failed jobs three times.\n"})
    stray = write_notes(tmp_path / "stray", {"s.md": "# Stray\n\nnot a vault\n"})
    with (
        live_server(make_service(tmp_path, folder, qmdr_vault_roots=[tmp_path])) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert client.post("/vaults", json={"name": "shared", "folder": str(shared), "index": False}).status_code == 201
        started = client.post("/reindex", json={"vault": str(shared)})
        assert started.status_code == 202 and started.json()["name"] == "shared"
        assert wait_for_job(client)["state"] == "done"
        assert client.get("/vaults/shared").json()["index"]["notes"] == 1
        conflict = client.post("/reindex", json={"vault": str(stray)})
        assert conflict.status_code == 409 and conflict.json()["error"] == "VaultFolderConflict"
        assert client.get("/vaults/default").json()["index"]["notes"] == 0  # default untouched


def test_the_default_vault_answers_searches_and_feedback_before_it_has_a_folder(tmp_path: Path) -> None:
    with live_server(make_service(tmp_path)) as base, httpx.Client(base_url=base, timeout=30) as client:
        query = {"query": "anything", "mode": "keyword"}
        for answer in (
            client.post("/search", json=query),
            client.post("/vaults/default/search", json=query),
            client.post("/vaults/search", json={**query, "vaults": ["default"]}),
        ):
            assert answer.status_code == 200 and answer.json()["results"] == []
        vote = client.post("/feedback", json={"vault": "default", "path": "a.md", "useful": True})
        assert vote.status_code == 200 and vote.json()["useful"] == 1
        assert client.post("/feedback", json={"vault": "nope", "path": "a.md", "useful": True}).status_code == 404
        everything = client.post("/vaults/search", json=query)  # "every vault" while none has a folder
        assert everything.status_code == 404 and "QMDR_VAULT" in everything.json()["detail"]
