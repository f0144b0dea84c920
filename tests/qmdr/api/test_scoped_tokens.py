"""Agent tokens over HTTP: made and revoked by the admin, searches over "all" cover only the token's vaults,
wrong agent tokens are throttled like wrong admin tokens, and replicas on one PostgreSQL share tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient

from qmdr.api.app import create_app
from qmdr.service import Service
from tests.qmdr.memory_service import make_service, write_notes

ADMIN = "scoped-admin-token-0123456789"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
NOTES = {
    "default": {"d.md": "# Shared\n\nHerons nest by the lake in the default vault.\n"},
    "alice": {"a.md": "# Alice\n\nHerons nest by the lake, Alice noted.\n"},
    "bob": {"b.md": "# Bob\n\nHerons nest by the lake, Bob noted.\n"},
}


def serve(tmp_path: Path, **settings: object) -> tuple[Service, TestClient]:
    folders = {name: write_notes(tmp_path / name, notes) for name, notes in NOTES.items()}
    service = make_service(tmp_path, folders["default"], **settings)

    async def prepare() -> None:
        for name in ("alice", "bob"):
            if service.memory.registry.find(name) is None:
                service.memory.add(name, folders[name])
        for name in NOTES:
            await service.memory.reindex(name)

    anyio.run(prepare)
    client = TestClient(create_app(service.settings, service=service))
    client.__enter__()
    return service, client


@pytest.fixture
def app(tmp_path: Path) -> Iterator[TestClient]:
    service, client = serve(tmp_path, qmdr_api_token=ADMIN, qmdr_auth_free_failures=3)
    yield client
    client.__exit__(None, None, None)
    anyio.run(service.aclose)


def make_token(client: TestClient, name: str, vaults: dict[str, str]) -> dict[str, str]:
    answer = client.post("/tokens", json={"name": name, "vaults": vaults}, headers=AS_ADMIN)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_the_admin_makes_lists_and_revokes_tokens_and_the_token_is_shown_once(app: TestClient) -> None:
    made = app.post("/tokens", json={"name": "alice", "vaults": {"alice": "rw", "default": "r"}}, headers=AS_ADMIN)
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    token = made.json()["token"]
    assert token.startswith("qmdr_") and made.json()["vaults"] == {"alice": "rw", "default": "r"}
    listed = app.get("/tokens", headers=AS_ADMIN)
    assert [t["name"] for t in listed.json()["tokens"]] == ["alice"] and token not in listed.text
    assert "token" not in listed.json()["tokens"][0]
    as_alice = {"Authorization": f"Bearer {token}"}
    assert app.get("/vaults/alice", headers=as_alice).status_code == 200
    assert app.delete("/tokens/alice", headers=AS_ADMIN).status_code == 204
    refused = app.get("/vaults/alice", headers=as_alice)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]  # at once, no restart
    assert app.delete("/tokens/alice", headers=AS_ADMIN).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"name": "x", "vaults": {"nope": "r"}}, 404, "'nope'"),
        ({"name": "x", "vaults": {"alice": "w"}}, 422, "vaults.alice"),
        ({"name": "x", "vaults": {}}, 422, "vaults"),
        ({"name": "<b>x", "vaults": {"alice": "r"}}, 422, "name"),
    ],
)
def test_bad_token_requests_are_refused_clearly_and_make_nothing(app: TestClient, body, status, says) -> None:
    answer = app.post("/tokens", json=body, headers=AS_ADMIN)
    assert answer.status_code == status and says in answer.json()["detail"], answer.text
    assert app.get("/tokens", headers=AS_ADMIN).json()["tokens"] == []


def test_a_taken_name_is_409_and_keeps_the_first_token(app: TestClient) -> None:
    first = make_token(app, "alice", {"alice": "r"})
    again = app.post("/tokens", json={"name": "alice", "vaults": {"bob": "rw"}}, headers=AS_ADMIN)
    assert again.status_code == 409
    assert app.get("/vaults/alice", headers=first).status_code == 200
    assert app.get("/vaults/bob", headers=first).status_code == 403


def test_all_vaults_means_the_vaults_the_token_can_read(app: TestClient) -> None:
    as_alice = make_token(app, "alice", {"alice": "rw", "default": "r"})
    query = {"query": "herons lake", "mode": "keyword", "k": 10}
    for vaults in (None, ["all"]):
        found = app.post("/vaults/search", json={**query, "vaults": vaults}, headers=as_alice).json()
        assert found["vaults"] == ["default", "alice"]
        assert {hit["vault"] for hit in found["results"]} == {"default", "alice"}
    everything = app.post("/vaults/search", json=query, headers=AS_ADMIN).json()
    assert {hit["vault"] for hit in everything["results"]} == {"default", "alice", "bob"}
    refused = app.post("/vaults/search", json={**query, "vaults": ["alice", "bob"]}, headers=as_alice)
    assert refused.status_code == 403 and refused.json()["vault"] == "bob"
    context = app.post("/context", json={"query": "herons lake"}, headers=as_alice).json()
    assert {entry["vault"] for entry in context["entries"]} == {"default", "alice"}
    assert "Bob noted" not in context["markdown"] and "Alice noted" in context["markdown"]
    assert [v["name"] for v in app.get("/vaults", headers=as_alice).json()["vaults"]] == ["default", "alice"]


def test_an_unknown_vault_is_403_for_a_token_like_any_vault_it_cannot_read(app: TestClient) -> None:
    """A scoped token learns nothing about vaults outside its scope, not even whether they exist."""
    as_alice = make_token(app, "alice", {"alice": "r"})
    for vault in ("bob", "ghost"):
        answer = app.get(f"/vaults/{vault}", headers=as_alice)
        assert answer.status_code == 403 and answer.json()["vault"] == vault
    assert app.get("/vaults/ghost", headers=AS_ADMIN).status_code == 404


def test_read_only_tokens_cannot_write_and_rw_tokens_write_only_their_vault(app: TestClient, tmp_path: Path) -> None:
    reader, writer = make_token(app, "reader", {"alice": "r"}), make_token(app, "writer", {"alice": "rw"})
    note = {"path": "kites.md", "content": "Red kites circle the ridge."}
    refused = app.post("/vaults/alice/notes", json=note, headers=reader)
    assert refused.status_code == 403 and "writing needs rw" in refused.json()["detail"]
    assert not (tmp_path / "alice" / "kites.md").exists()
    assert app.post("/vaults/alice/notes", json=note, headers=writer).status_code == 200
    assert (tmp_path / "alice" / "kites.md").exists()
    assert app.post("/vaults/bob/notes", json=note, headers=writer).status_code == 403
    assert not (tmp_path / "bob" / "kites.md").exists()
    vote = {"vault": "alice", "path": "a.md", "useful": True}
    assert app.post("/feedback", json=vote, headers=reader).status_code == 403
    assert app.post("/feedback", json=vote, headers=writer).json()["useful"] == 1
    assert app.post("/reindex", headers=writer).status_code == 403  # the default vault is not in its scope
    folder = app.post(
        "/reindex", json={"vault": str(tmp_path / "alice")}, headers=make_token(app, "deflt", {"default": "rw"})
    )
    assert folder.status_code == 403 and "admin token" in folder.json()["detail"]


def test_wrong_agent_tokens_are_locked_out_like_wrong_admin_tokens(app: TestClient) -> None:
    good = make_token(app, "alice", {"alice": "r"})
    wrong = {"Authorization": "Bearer qmdr_" + "A" * 43}
    for _ in range(4):  # qmdr_auth_free_failures=3: the fourth wrong token starts the lockout
        assert app.get("/vaults", headers=wrong).status_code == 401
    locked = app.get("/vaults", headers=wrong)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    assert app.get("/vaults", headers=good).status_code == 429  # no token is checked during the lockout


def test_without_an_admin_token_the_api_is_open_and_agent_tokens_narrow_nothing(tmp_path: Path) -> None:
    """Documented choice: agent tokens count only while QMDR_API_TOKEN is set (an open API protects nothing)."""
    service, client = serve(tmp_path)
    try:
        made = client.post("/tokens", json={"name": "alice", "vaults": {"alice": "r"}})
        assert made.status_code == 201
        as_alice = {"Authorization": f"Bearer {made.json()['token']}"}
        assert client.get("/vaults/bob", headers=as_alice).status_code == 200
    finally:
        client.__exit__(None, None, None)
        anyio.run(service.aclose)


@pytest.mark.postgres
def test_replicas_on_one_database_share_tokens_and_revocations(tmp_path: Path, pg_url: str) -> None:
    first_service, first = serve(tmp_path / "one", qmdr_api_token=ADMIN, qmdr_database_url=pg_url)
    second_service, second = serve(tmp_path / "two", qmdr_api_token=ADMIN, qmdr_database_url=pg_url)
    try:
        as_alice = make_token(first, "alice", {"alice": "r"})
        assert second.get("/vaults/alice", headers=as_alice).status_code == 200
        assert second.get("/vaults/bob", headers=as_alice).status_code == 403
        assert second.delete("/tokens/alice", headers=AS_ADMIN).status_code == 204
        assert first.get("/vaults/alice", headers=as_alice).status_code == 401
        assert not (tmp_path / "one" / "data" / "tokens.sqlite").exists()
    finally:
        for service, client in ((first_service, first), (second_service, second)):
            client.__exit__(None, None, None)
            anyio.run(service.aclose)
