"""POST /chat with ``stream: true``: the ``done`` event carries metadata, and /metrics hears the provider calls."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.fake_openai_server import FakeOpenAIServer


def sse_events(text: str) -> list[tuple[str, dict]]:
    """(event name, data) pairs of a Server-Sent Events body."""
    events, name = [], None
    for line in text.splitlines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: ") :])))
    return events


def metric(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and set(labels.items()) <= set(sample.labels.items())
    )


def test_stream_done_event_carries_fallbacks_and_metrics_count_them(make_client) -> None:
    client = make_client()  # no XAI_API_KEY: the first model of the chain falls through at once
    with FakeOpenAIServer() as server:
        assert client.post("/providers/custom", json={"slug": "box", "base_url": server.base_url}).status_code == 201
        streamed = client.post(
            "/chat",
            json={
                "model": "xai/grok-3",
                "fallbacks": ["custom-box/llama3.3"],
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    events = sse_events(streamed.text)
    name, done = events[-1]
    assert name == "done" and "".join(d["text"] for n, d in events if n == "delta") == "echo: hi"
    meta = done["metadata"]
    assert meta["requested_model"] == "xai/grok-3" and meta["model_used"] == "custom-box/llama3.3"
    [taken] = meta["fallbacks"]
    assert taken["model"] == "xai/grok-3" and "XAI_API_KEY" in taken["reason"]

    page = client.get("/metrics").text
    assert metric(page, "qmdr_provider_requests_total", provider="custom-box", kind="stream", outcome="ok") == 1
    assert metric(page, "qmdr_provider_call_seconds_count", provider="custom-box", kind="stream") == 1
    assert metric(page, "qmdr_provider_fallbacks_total", provider="xai") == 1
    assert metric(page, "qmdr_provider_failed_calls_total") == 0  # a fallback taken is not a failed call


def test_a_call_that_fails_after_its_chain_is_a_failed_call(make_client) -> None:
    client = make_client()
    answer = client.post("/chat", json={"model": "xai/grok-3", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 400
    page = client.get("/metrics").text
    assert metric(page, "qmdr_provider_failed_calls_total", provider="xai") == 1
    assert metric(page, "qmdr_provider_requests_total", provider="xai", kind="chat", outcome="MissingCredentials") == 1
    assert metric(page, "qmdr_provider_fallbacks_total") == 0
