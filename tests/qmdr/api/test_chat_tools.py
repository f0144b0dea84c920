"""POST /chat with tools: definitions in, tool calls out (JSON and SSE), results back, faults as typed errors.

The service's provider client talks to an httpx MockTransport answering in
OpenAI's documented chat/completions shapes; everything between the HTTP
request to /chat and the provider's HTTP boundary is the real code.
"""

from __future__ import annotations

import json

import httpx

from tests.qmdr.api.test_chat_stream import sse_events

WEATHER = {
    "name": "get_weather",
    "description": "Weather now in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def answer(tool_calls=None, content=None):
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls" if tool_calls else "stop",
                "message": {"role": "assistant", "content": content, "tool_calls": tool_calls},
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def call(name="get_weather", arguments='{"city": "Paris"}'):
    return {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}


def with_provider(client, respond):
    """Point the app's provider client at ``respond(request_json) -> httpx.Response``; returns the bodies sent."""
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return respond(sent[-1])

    client.app.state.service.providers.http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return sent


def test_tools_in_tool_calls_out_and_results_back(make_client) -> None:
    client = make_client(env={"OPENAI_API_KEY": "sk-fake-openai-0000"})
    sent = with_provider(
        client,
        lambda body: httpx.Response(
            200, json=answer([call()]) if body["messages"][-1]["role"] == "user" else answer(content="18 C in Paris")
        ),
    )
    first = client.post(
        "/chat",
        json={
            "model": "openai/gpt-4o-mini",
            "tools": [WEATHER],
            "tool_choice": "auto",
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
        },
    )
    assert first.status_code == 200, first.text
    assert first.json()["tool_calls"] == [
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}, "signature": None}
    ]
    assert sent[0]["tools"][0]["function"]["name"] == "get_weather" and sent[0]["tool_choice"] == "auto"

    second = client.post(
        "/chat",
        json={
            "model": "openai/gpt-4o-mini",
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": first.json()["tool_calls"]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
            ],
        },
    )
    assert second.status_code == 200 and second.json()["text"] == "18 C in Paris"
    assert sent[1]["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "18 C"}
    assert sent[1]["messages"][-2]["tool_calls"][0]["function"]["arguments"] == json.dumps({"city": "Paris"})


def test_streamed_tool_calls_arrive_in_delta_events(make_client) -> None:
    client = make_client(env={"OPENAI_API_KEY": "sk-fake-openai-0000"})
    chunks = [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Oslo"}'}}]}}
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    with_provider(client, lambda body: httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"}))
    response = client.post(
        "/chat",
        json={
            "model": "openai/gpt-4o-mini",
            "tools": [WEATHER],
            "stream": True,
            "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        },
    )
    events = sse_events(response.text)
    calls = [c for name, data in events if name == "delta" for c in data["tool_calls"]]
    assert calls == [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}, "signature": None}]
    assert events[-1][0] == "done" and events[-1][1]["finish_reason"] == "tool_calls"


def test_faults_are_typed_errors_never_500(make_client) -> None:
    client = make_client(env={"OPENAI_API_KEY": "sk-fake-openai-0000"})
    replies = iter([answer([call(name="drop_tables")]), answer([call(arguments='{"city": Par')])])
    with_provider(client, lambda body: httpx.Response(200, json=next(replies)))
    ask = {"model": "openai/gpt-4o-mini", "tools": [WEATHER], "messages": [{"role": "user", "content": "hi"}]}
    unknown = client.post("/chat", json=ask)
    assert unknown.status_code == 502 and unknown.json()["error"] == "UnknownTool"
    assert "drop_tables" in unknown.json()["detail"]
    garbled = client.post("/chat", json=ask)
    assert garbled.status_code == 502 and garbled.json()["error"] == "InvalidToolArguments"

    bad_choice = client.post("/chat", json={**ask, "tool_choice": "not_offered"})
    assert bad_choice.status_code == 422 and "not_offered" in bad_choice.text
    bad_schema = client.post("/chat", json={**ask, "tools": [{**WEATHER, "parameters": {"type": "string"}}]})
    assert bad_schema.status_code == 422
    orphan = client.post("/chat", json={**ask, "messages": [{"role": "tool", "content": "x"}]})
    assert orphan.status_code == 422 and "tool_call_id" in orphan.text


def test_a_stream_cut_inside_a_tool_call_ends_with_an_error_event(make_client) -> None:
    client = make_client(env={"OPENAI_API_KEY": "sk-fake-openai-0000"})
    cut = (
        'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function",'
        '"function":{"name":"get_weather","arguments":"{\\"ci"}}]}}]}\n\n'
    )
    with_provider(client, lambda body: httpx.Response(200, text=cut, headers={"content-type": "text/event-stream"}))
    response = client.post(
        "/chat",
        json={
            "model": "openai/gpt-4o-mini",
            "tools": [WEATHER],
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    name, data = sse_events(response.text)[-1]
    assert response.status_code == 200 and name == "error" and data["error"] == "IncompleteToolCall"


def test_response_format_comes_back_parsed_and_is_not_streamed(make_client) -> None:
    client = make_client(env={"OPENAI_API_KEY": "sk-fake-openai-0000"})
    sent = with_provider(client, lambda body: httpx.Response(200, json=answer(content='{"grade": 2}')))
    schema = {"type": "object", "properties": {"grade": {"type": "integer"}}, "required": ["grade"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "grade", "schema": schema, "strict": True}}
    ask = {"model": "openai/gpt-4o-mini", "response_format": fmt, "messages": [{"role": "user", "content": "hi"}]}
    done = client.post("/chat", json=ask)
    assert done.status_code == 200 and done.json()["parsed"] == {"grade": 2}
    assert sent[-1]["response_format"] == fmt
    streamed = client.post("/chat", json={**ask, "stream": True})
    assert streamed.status_code == 422 and "not streamed" in streamed.text
    broken = client.post(
        "/chat",
        json={
            **ask,
            "response_format": {"type": "json_schema", "json_schema": {"name": "g", "schema": {"type": "nonsense"}}},
        },
    )
    assert broken.status_code == 422


def test_pipeline_and_step_choose_the_agent_and_model(make_client, tmp_path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "review.yml").write_text(
        "steps:\n  - id: draft\n    agent: writer\n    model: openai/gpt-4.1-mini\n  - id: check\n    agent: critic\n"
    )
    (tmp_path / "agents" / "critic").mkdir(parents=True)
    (tmp_path / "agents" / "critic" / "config.yml").write_text("model: openai/gpt-4o-mini\n")
    client = make_client(
        env={"OPENAI_API_KEY": "sk-fake-openai-0000"},
        qmdr_pipelines_dir=tmp_path / "pipelines",
        qmdr_agents_dir=tmp_path / "agents",
    )
    sent = with_provider(client, lambda body: httpx.Response(200, json=answer(content="ok")))
    hi = [{"role": "user", "content": "hi"}]
    for step, model in (("draft", "gpt-4.1-mini"), ("check", "gpt-4o-mini")):
        done = client.post("/chat", json={"pipeline": "review", "step": step, "messages": hi})
        assert done.status_code == 200, done.text
        assert sent[-1]["model"] == model and done.json()["metadata"]["model_used"] == f"openai/{model}"
    assert client.post("/chat", json={"pipeline": "review", "step": "nope", "messages": hi}).status_code == 422
    assert client.post("/chat", json={"pipeline": "absent", "step": "x", "messages": hi}).status_code == 404
    assert client.post("/chat", json={"pipeline": "../etc", "step": "x", "messages": hi}).status_code == 422
    assert client.post("/chat", json={"pipeline": "review", "messages": hi}).status_code == 422
