"""Memory search configured only through the seed's QMD_* variables, against a local OpenAI-compatible server.

The fixture server serves /v1/embeddings backed by the embedded MiniLM model and
/v1/chat/completions with a deterministic grader; `qmdr serve` runs as a real
subprocess and talks to it over real sockets, exactly as it would to OpenRouter.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from providers.local import load_local_embedder
from tests.e2e.fake_openai_server import FakeOpenAIServer
from tests.e2e.graders import grading_chat
from tests.e2e.qmdr_process import qmdr_env, running_server, wait_for_reindex

pytestmark = pytest.mark.e2e
SAMPLE_VAULT = Path(__file__).resolve().parents[2] / "examples" / "notes"
FAKE_KEY = "sk-qmd-e2e-cccccccccccccccccccc3333"


def minilm_embeddings(texts: list[str], model: str) -> list[list[float]]:
    return load_local_embedder().embed_sync(texts).tolist()


@pytest.fixture
def provider_server():
    with FakeOpenAIServer(embed_fn=minilm_embeddings, chat_fn=grading_chat, dim=384, api_key=FAKE_KEY) as server:
        yield server


def seed_env(tmp_path: Path, server: FakeOpenAIServer, vault: Path) -> dict[str, str]:
    return qmdr_env(
        tmp_path / "data",
        QMDR_VAULT=str(vault),
        QMD_OPENAI_API_KEY=FAKE_KEY,
        QMD_OPENAI_BASE_URL=server.base_url,
        QMD_EMBED_PROVIDER="openai",
        QMD_OPENAI_EMBED_MODEL="fake-embed",
        QMD_RERANK_PROVIDER="openai",
        QMD_RERANK_MODE="llm",
        QMD_OPENAI_MODEL="fake-chat",
    )


def calls(server: FakeOpenAIServer, path: str) -> int:
    return sum(1 for r in server.requests if r.path == path)


def test_qmd_settings_drive_embeddings_and_llm_rerank(tmp_path: Path, provider_server: FakeOpenAIServer) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault)
    env = seed_env(tmp_path, provider_server, vault)
    with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
        health = client.get("/health")
        info = health.json()
        assert info["embedding"]["provider"] == "openai" and info["embedding"]["key_source"] == "env"
        assert info["embedding"]["key_env_var"] == "QMD_OPENAI_API_KEY"
        assert info["rerank"] == {**info["rerank"], "enabled": True, "mode": "llm", "model": "fake-chat"}
        assert FAKE_KEY not in health.text

        client.post("/reindex", json={})
        status = wait_for_reindex(client)
        assert status["state"] == "done", status
        embedded_calls = calls(provider_server, "/v1/embeddings")
        assert embedded_calls >= 1 and status["summary"]["embedded"] > 0
        assert all(r.authorized for r in provider_server.requests)

        body = client.post("/search", json={"query": "what did we decide about retries", "k": 5}).json()
        assert body["reranked"] is True, body["warnings"]
        top = body["results"][0]
        assert top["path"] in {"decisions/retries.md", "meetings/2026-03-12-incident-review.md"}
        assert "llm" in top["scores"] and top["ranks"]["rerank"] == 1
        graded = [r["scores"]["llm"] for r in body["results"] if "llm" in r["scores"]]
        assert top["scores"]["llm"] == max(graded) > 0, "the grader's best passage leads after the blend"
        assert set(body["timings_ms"]) >= {"embed_query", "keyword", "vector", "fuse", "rerank", "total"}
        chat_calls = calls(provider_server, "/v1/chat/completions")
        assert chat_calls == 1, "one listwise call grades every candidate"
        graded_request = next(r.body for r in provider_server.requests if r.path == "/v1/chat/completions")
        assert graded_request["response_format"]["type"] == "json_schema"
        assert graded_request["response_format"]["json_schema"]["name"] == "passage_grades"

        # the same search again: query embedding and grades come from caches
        client.post("/search", json={"query": "what did we decide about retries", "k": 5})
        assert calls(provider_server, "/v1/chat/completions") == chat_calls

        # an unchanged vault costs zero embedding calls
        client.post("/reindex", json={})
        assert wait_for_reindex(client)["summary"]["embedded"] == 0

        # the grader fails: results still come back, fused, with a visible warning
        provider_server.fail_next(503, times=20)
        degraded = client.post("/search", json={"query": "incident review outage", "k": 5}).json()
        assert degraded["reranked"] is False and degraded["warnings"] and degraded["results"]
        provider_server.clear_faults()
        assert calls(provider_server, "/v1/embeddings") > embedded_calls  # the new query was embedded remotely


def test_missing_key_for_openrouter_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault)
    import subprocess

    from tests.e2e.qmdr_process import qmdr_executable

    env = qmdr_env(tmp_path / "data", QMD_EMBED_PROVIDER="openai")  # default base URL: OpenRouter, no key
    result = subprocess.run(
        [qmdr_executable(), "index", str(vault)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "QMD_OPENAI_API_KEY" in result.stderr and "OPENROUTER_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_without_json_schema_still_reranks_in_free_text(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault)
    with FakeOpenAIServer(
        embed_fn=minilm_embeddings, chat_fn=grading_chat, dim=384, api_key=FAKE_KEY, json_schema=False
    ) as server:
        env = seed_env(tmp_path, server, vault)
        with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
            client.post("/reindex", json={})
            assert wait_for_reindex(client)["state"] == "done"
            first = client.post("/search", json={"query": "what did we decide about retries", "k": 5}).json()
            assert first["reranked"] is True and first["results"][0]["ranks"]["rerank"] == 1
            assert any("free text" in w for w in first["warnings"]), first["warnings"]
            second = client.post("/search", json={"query": "incident review outage", "k": 5}).json()
            assert second["reranked"] is True and not any("free text" in w for w in second["warnings"])
        formats = [
            (r.body.get("response_format") or {}).get("type")
            for r in server.requests
            if r.path == "/v1/chat/completions"
        ]
        assert formats == ["json_schema", "json_object", "json_object"]


def test_grades_off_the_schema_are_repaired_once_then_search_answers_fused(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(SAMPLE_VAULT, vault)
    with FakeOpenAIServer(
        embed_fn=minilm_embeddings, chat_fn=lambda messages, model: "Passage 1 looks best.", dim=384, api_key=FAKE_KEY
    ) as server:
        env = seed_env(tmp_path, server, vault)
        with running_server(env, cwd=tmp_path) as base, httpx.Client(base_url=base, timeout=60) as client:
            client.post("/reindex", json={})
            assert wait_for_reindex(client)["state"] == "done"
            response = client.post("/search", json={"query": "what did we decide about retries", "k": 5})
            assert response.status_code == 200
            body = response.json()
            assert body["reranked"] is False and body["results"]
            assert any(w.startswith("rerank skipped:") and "schema" in w for w in body["warnings"]), body
            assert FAKE_KEY not in response.text
        chats = [r.body for r in server.requests if r.path == "/v1/chat/completions"]
        assert len(chats) == 2 and all(c["response_format"]["type"] == "json_schema" for c in chats)
        assert chats[1]["messages"][-2] == {"role": "assistant", "content": "Passage 1 looks best."}
