"""Settings -> Providers over HTTP: key sources, stored keys encrypted and winning, custom providers, defaults."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.fake_openai_server import FakeOpenAIServer

FAKE_ENV_KEY = "sk-or-env-aaaaaaaaaaaaaaaaaaaa1111"
FAKE_STORED_KEY = "sk-or-stored-bbbbbbbbbbbbbbbbbbb2222"


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["id"]: row for row in rows}


def test_providers_list_every_registry_provider_with_key_source(make_client) -> None:
    client = make_client(env={"OPENROUTER_API_KEY": FAKE_ENV_KEY})
    rows = by_id(client.get("/providers").json())
    expected = {
        "openrouter",
        "anthropic",
        "openai",
        "google",
        "xai",
        "groq",
        "mistral",
        "cerebras",
        "azure",
        "bedrock",
        "vertex",
        "huggingface",
    }
    assert expected <= set(rows)
    assert rows["openrouter"]["source"] == "env" and rows["openrouter"]["env_var"] == "OPENROUTER_API_KEY"
    assert rows["anthropic"]["source"] == "none"
    assert FAKE_ENV_KEY not in client.get("/providers").text
    assert rows["openrouter"]["masked"].endswith("1111") and len(rows["openrouter"]["masked"].strip("…*.")) <= 4


def test_stored_key_is_encrypted_masked_and_beats_env(make_client, tmp_path: Path) -> None:
    client = make_client(env={"OPENROUTER_API_KEY": FAKE_ENV_KEY})
    saved = client.put("/providers/openrouter/key", json={"api_key": FAKE_STORED_KEY})
    assert saved.status_code == 200
    body = saved.json()
    assert body["source"] == "stored" and body["masked"].endswith("2222") and FAKE_STORED_KEY not in saved.text
    assert by_id(client.get("/providers").json())["openrouter"]["source"] == "stored"
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("settings.sqlite*"))
    assert FAKE_STORED_KEY.encode() not in raw and raw, "the key must be encrypted at rest"

    # a restart with the env var still set keeps the stored key in front
    again = make_client(env={"OPENROUTER_API_KEY": FAKE_ENV_KEY})
    assert by_id(again.get("/providers").json())["openrouter"]["source"] == "stored"

    assert client.delete("/providers/openrouter/key").status_code == 204
    assert by_id(client.get("/providers").json())["openrouter"]["source"] == "env"


def test_storing_a_key_without_encryption_key_says_what_to_set(make_client) -> None:
    client = make_client(secret_encryption_key=None)
    response = client.put("/providers/openrouter/key", json={"api_key": FAKE_STORED_KEY})
    assert response.status_code == 409
    assert "SECRET_ENCRYPTION_KEY" in response.json()["detail"] and FAKE_STORED_KEY not in response.text


def test_unknown_provider_and_bad_bodies_are_4xx(make_client) -> None:
    client = make_client()
    assert client.put("/providers/nope/key", json={"api_key": "x"}).status_code == 404
    assert client.put("/providers/openrouter/key", json={"api_key": ""}).status_code == 422
    assert client.post("/providers/custom", json={"slug": "Bad Slug", "base_url": "http://x:1/v1"}).status_code == 422
    assert client.post("/providers/custom", json={"slug": "ok", "base_url": "ftp://x/v1"}).status_code == 422


def test_custom_provider_shows_in_models_and_answers_chat(make_client) -> None:
    client = make_client()
    with FakeOpenAIServer() as server:
        created = client.post("/providers/custom", json={"slug": "myollama", "base_url": server.base_url})
        assert created.status_code == 201 and created.json()["id"] == "custom-myollama"
        models = client.get("/models").json()
        assert any(m["model_string"] == "custom-myollama/<model>" for m in models)
        answer = client.post(
            "/chat",
            json={"model": "custom-myollama/llama3.3", "messages": [{"role": "user", "content": "hello there"}]},
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["provider"] == "custom-myollama" and data["model"] == "llama3.3" and "hello there" in data["text"]

        streamed = client.post(
            "/chat",
            json={
                "model": "custom-myollama/llama3.3",
                "stream": True,
                "messages": [{"role": "user", "content": "stream me"}],
            },
        )
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [line for line in streamed.text.splitlines() if line.startswith("event: ")]
        assert events[-1] == "event: done" and "event: delta" in events
        pieces = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")]
        assert "".join(p.get("text", "") for p in pieces[:-1]) == "echo: stream me"

    assert client.delete("/providers/custom/myollama").status_code == 204
    assert not any(m["provider"] == "custom-myollama" for m in client.get("/models").json())


def test_chat_without_credentials_names_the_env_var(make_client) -> None:
    client = make_client()
    response = client.post(
        "/chat", json={"model": "anthropic/claude-sonnet-4", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 400
    assert "ANTHROPIC_API_KEY" in response.json()["detail"]


def test_defaults_round_trip_and_drive_chat_model_choice(make_client) -> None:
    client = make_client()
    assert client.get("/settings/defaults").json() == {
        "working_model": None,
        "thinking_model": None,
        "thinking_level": None,
    }
    assert client.post("/chat", json={"messages": [{"role": "user", "content": "hi"}]}).status_code == 422
    bad = client.put("/settings/defaults", json={"working_model": "nope/model"})
    assert bad.status_code == 422
    saved = client.put(
        "/settings/defaults",
        json={
            "working_model": "openrouter/openai/gpt-4o-mini",
            "thinking_model": "anthropic/claude-sonnet-4",
            "thinking_level": "low",
        },
    )
    assert saved.json()["thinking_level"] == "low"
    # the thinking model is chosen when thinking is on, and its missing key is what the error names
    response = client.post("/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 400 and "ANTHROPIC_API_KEY" in response.json()["detail"]
    response = client.post("/chat", json={"thinking_level": "off", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 400 and "OPENROUTER_API_KEY" in response.json()["detail"]


def test_model_resolution_reports_the_id_sent(make_client) -> None:
    client = make_client()
    resolved = client.get("/models/resolve", params={"model": "anthropic/claude-sonnet-4"}).json()
    assert resolved["provider"] == "anthropic" and resolved["model_sent"] == "claude-sonnet-4-0"
    assert resolved["supports_thinking"] is True and resolved["configured"] is False
    passthrough = client.get("/models/resolve", params={"model": "openrouter/moonshotai/kimi-k2.5"}).json()
    assert passthrough["provider"] == "openrouter" and passthrough["model_sent"] == "moonshotai/kimi-k2.5"
    assert client.get("/models/resolve", params={"model": "nope/x"}).status_code == 404


def test_storing_a_key_under_a_different_encryption_key_is_refused_and_keeps_the_old_key(make_client) -> None:
    client = make_client()
    assert client.put("/providers/openrouter/key", json={"api_key": FAKE_STORED_KEY}).status_code == 200
    wrong = make_client(secret_encryption_key="a-different-encryption-key-999999")
    response = wrong.put("/providers/openrouter/key", json={"api_key": "sk-or-replacement-cccc3333"})
    assert response.status_code == 409
    assert "SECRET_ENCRYPTION_KEY" in response.text and "a-different-encryption-key" not in response.text
    assert "sk-or-replacement" not in response.text
    row = by_id(client.get("/providers").json())["openrouter"]  # the right key still reads the original
    assert row["source"] == "stored" and row["masked"].endswith("2222") and row["error"] is None
