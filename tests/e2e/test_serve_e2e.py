"""`qmdr serve` in a subprocess on 127.0.0.1, queried over a real socket like an agent would."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.qmdr_process import qmdr_env, running_server, wait_for_reindex

pytestmark = pytest.mark.e2e
SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    target = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, target)
    return target


def test_serve_indexes_and_answers_searches(tmp_path: Path, vault: Path) -> None:
    env = qmdr_env(tmp_path / "data", QMDR_VAULT=str(vault))
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        health = client.get("/health").json()
        assert health["embedding"]["model"] == "local/all-MiniLM-L6-v2"
        assert health["index"]["chunks"] == 0

        started = client.post("/reindex", json={})
        assert started.status_code == 202
        status = wait_for_reindex(client)
        assert status["state"] == "done", status
        assert status["summary"]["added"] == 5

        hits = client.post("/search", json={"query": "what did we decide about retries", "k": 3})
        assert hits.status_code == 200
        body = hits.json()
        assert body["results"][0]["path"] == "decisions/retries.md"
        assert set(body["timings_ms"]) >= {"keyword", "vector", "total"}
        assert hits.headers["x-request-id"]

        keyword = client.post("/search", json={"query": "Retry-After", "mode": "keyword"}).json()
        assert keyword["results"] and keyword["results"][0]["path"] == "decisions/retries.md"

        note = client.get("/notes/decisions/retries.md").json()
        assert note["title"] == "Retry policy for provider calls"
        assert "decision" in note["tags"] and note["chunks"]

        assert client.get("/health").json()["index"]["notes"] == 5
        assert client.get("/docs").status_code == 200


def test_serve_rejects_bad_input_with_4xx(tmp_path: Path, vault: Path) -> None:
    env = qmdr_env(tmp_path / "data", QMDR_VAULT=str(vault))
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/search", json={"query": ""}).status_code == 422
        assert client.post("/search", json={"query": "   "}).status_code == 422
        assert client.post("/search", json={"query": "x", "k": 0}).status_code == 422
        assert client.post("/search", json={"query": "x", "k": 1000}).status_code == 422
        assert client.post("/search", json={"query": "x", "mode": "magic"}).status_code == 422
        broken = client.post("/search", content=b"{not json", headers={"content-type": "application/json"})
        assert broken.status_code == 422
        missing = client.get("/notes/nope.md")
        assert missing.status_code == 404 and missing.json()["error"] == "NotFound"
        outside = client.post("/reindex", json={"vault": str(tmp_path / "does-not-exist")})
        assert outside.status_code == 400 and outside.json()["error"] == "PathOutsideVault"
        assert client.post("/reindex", json={"vault": "/etc"}).status_code == 400
        assert client.post("/reindex", json={"vault": str(vault / "..")}).status_code == 400


def test_token_guards_everything_but_health(tmp_path: Path, vault: Path) -> None:
    env = qmdr_env(tmp_path / "data", QMDR_VAULT=str(vault), QMDR_API_TOKEN="test-token-abc")
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/health").status_code == 200
        denied = client.post("/search", json={"query": "retries"})
        assert denied.status_code == 401 and "test-token-abc" not in denied.text
        assert (
            client.post("/search", json={"query": "retries"}, headers={"Authorization": "Bearer wrong"}).status_code
            == 401
        )
        ok = client.post("/search", json={"query": "retries"}, headers={"Authorization": "Bearer test-token-abc"})
        assert ok.status_code == 200
