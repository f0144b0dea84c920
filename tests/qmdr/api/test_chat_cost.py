"""POST /chat reports usage (cached tokens included) and cost; /metrics counts tokens and cost per provider+model."""

from __future__ import annotations

import httpx
import pytest

from tests.qmdr.api.test_chat_stream import metric
from tests.qmdr.api.test_chat_tools import with_provider


def test_chat_answer_and_metrics_carry_tokens_and_cost(make_client) -> None:
    client = make_client(env={"OPENAI_API_KEY": "sk-fake-openai-0000"})
    with_provider(
        client,
        lambda body: httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {
                    "prompt_tokens": 2000,
                    "completion_tokens": 500,
                    "total_tokens": 2500,
                    "prompt_tokens_details": {"cached_tokens": 1000},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            },
        ),
    )
    ask = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    answers = [client.post("/chat", json=ask).json() for _ in range(2)]
    expected = (1000 * 0.15 + 1000 * 0.075 + 500 * 0.6) / 1e6
    assert answers[0]["usage"]["cached_input_tokens"] == 1000 and answers[0]["usage"]["input_tokens"] == 2000
    assert answers[0]["cost_usd"] == pytest.approx(expected) == answers[0]["metadata"]["cost_usd"]
    page = client.get("/metrics").text
    labels = {"provider": "openai", "model": "openai/gpt-4o-mini"}
    assert metric(page, "qmdr_provider_tokens_total", kind="input", **labels) == 4000
    assert metric(page, "qmdr_provider_tokens_total", kind="cached_input", **labels) == 2000
    assert metric(page, "qmdr_provider_tokens_total", kind="output", **labels) == 1000
    assert metric(page, "qmdr_provider_cost_usd_total", **labels) == pytest.approx(2 * expected)


def test_a_dead_model_cooling_down_is_counted_per_model(make_client) -> None:
    client = make_client(env={"OPENAI_API_KEY": "sk-fake-openai-0000"})
    with_provider(
        client,
        lambda body: (
            httpx.Response(500, json={"error": {"message": "broken"}})
            if body["model"] == "gpt-dead"
            else httpx.Response(
                200,
                json={
                    "id": "c",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}
                    ],
                },
            )
        ),
    )
    ask = {
        "model": "openai/gpt-dead",
        "fallbacks": ["openai/gpt-4o-mini"],
        "messages": [{"role": "user", "content": "hi"}],
    }
    for _ in range(4):
        assert client.post("/chat", json=ask).json()["metadata"]["model_used"] == "openai/gpt-4o-mini"
    page = client.get("/metrics").text
    assert metric(page, "qmdr_provider_model_cooldowns_total", provider="openai", model="openai/gpt-dead") == 1
    assert metric(page, "qmdr_provider_cooldowns_total", provider="openai") == 0
