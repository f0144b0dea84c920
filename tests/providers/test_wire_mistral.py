"""Mistral adapter: OpenAI-like chat with reasoning chunks, reasoning_effort mapping, output_dimension."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers.errors import AuthError, MalformedResponse, ProviderTimeout, ProviderUnavailable, RateLimited
from providers.types import ChatRequest, Credentials, Message
from providers.wire.mistral import ADAPTER, mistral_reasoning_effort

FAKE_KEY = "fake-mistral-key-0000"
BASE = "https://api.mistral.ai/v1"
CREDS = Credentials(provider="mistral", base_url=BASE, api_key=FAKE_KEY)
CHAT_URL = f"{BASE}/chat/completions"

REASONING_ANSWER = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "model": "mistral-small-latest",
    "created": 1,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": [{"type": "text", "text": "John is the brother."}]},
                    {"type": "text", "text": "John is 22."},
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 40, "completion_tokens": 120, "total_tokens": 160},
}


def request(model: str = "mistral-small-latest", level=None, **kwargs) -> ChatRequest:
    return ChatRequest(model=model, messages=[Message("user", "How old is John?")], thinking_level=level, **kwargs)


@pytest.mark.anyio
async def test_chat_reads_thinking_and_text_chunks() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(CHAT_URL).mock(return_value=httpx.Response(200, json=REASONING_ANSWER))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(client, CREDS, request(level="medium", max_tokens=300, json_output=True))
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert json.loads(sent.content) == {
        "model": "mistral-small-latest",
        "messages": [{"role": "user", "content": "How old is John?"}],
        "max_tokens": 300,
        "response_format": {"type": "json_object"},
        "reasoning_effort": "high",
    }
    assert (result.text, result.thinking) == ("John is 22.", "John is the brother.")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (40, 120)
    assert result.thinking_applied is True


@pytest.mark.anyio
async def test_plain_string_content_is_read_as_text() -> None:
    answer = {
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Bonjour"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    with respx.mock() as mock:
        route = mock.post(CHAT_URL).mock(return_value=httpx.Response(200, json=answer))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(client, CREDS, request("mistral-large-2411", level="high"))
    assert "reasoning_effort" not in json.loads(route.calls.last.request.content)
    assert (result.text, result.thinking, result.thinking_applied) == ("Bonjour", None, False)


@pytest.mark.parametrize(
    ("model", "level", "effort"),
    [
        ("mistral-small-latest", "off", "none"),
        ("mistral-small-latest", "low", "high"),
        ("mistral-medium-3-5", "high", "high"),
        ("mistral-large-4-0", "medium", "medium"),
        ("mistral-large-4-0", "off", "none"),
        ("mistral-small-latest", None, None),
        ("magistral-medium-latest", "high", None),
        ("open-mistral-nemo", "low", None),
    ],
)
def test_reasoning_effort_is_sent_only_where_documented(model, level, effort) -> None:
    assert mistral_reasoning_effort(model, level) == effort


@pytest.mark.anyio
async def test_stream_reads_thinking_chunk_deltas_then_strings_without_stream_options() -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me "}]}]},
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": "count."}]}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {"content": "22"}}]},
        {
            "choices": [{"index": 0, "delta": {"content": "."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 30, "total_tokens": 40},
        },
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(CHAT_URL).mock(
            return_value=httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())
        )
        async with httpx.AsyncClient() as client:
            deltas = [d async for d in ADAPTER.stream_chat(client, CREDS, request(level="high"))]
    sent = json.loads(route.calls.last.request.content)
    assert sent["stream"] is True and "stream_options" not in sent and sent["reasoning_effort"] == "high"
    assert [(d.thinking, d.text) for d in deltas[:-1]] == [
        ("Let me ", ""),
        ("count.", ""),
        ("", "22"),
        ("", "."),
    ]
    assert deltas[-1].done and deltas[-1].finish_reason == "stop" and deltas[-1].usage.output_tokens == 30


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "headers", "body", "error"),
    [
        (401, {}, {"message": "Unauthorized", "request_id": "r1"}, AuthError),
        (
            429,
            {"retry-after": "2"},
            {
                "object": "error",
                "message": "Requests rate limit exceeded",
                "type": "rate_limited",
                "param": None,
                "code": "1300",
            },
            RateLimited,
        ),
        (
            503,
            {},
            {"object": "error", "message": "Service unavailable.", "type": "internal_server_error"},
            ProviderUnavailable,
        ),
    ],
)
async def test_errors_map_to_the_error_tree(status, headers, body, error) -> None:
    with respx.mock() as mock:
        mock.post(CHAT_URL).mock(return_value=httpx.Response(status, headers=headers, json=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(error) as info:
                await ADAPTER.chat(client, CREDS, request())
    assert body["message"] in str(info.value)
    assert FAKE_KEY not in str(info.value) and FAKE_KEY not in info.value.body
    if status == 429:
        assert info.value.retry_after == 2.0


@pytest.mark.anyio
async def test_timeout_and_malformed_bodies() -> None:
    with respx.mock() as mock:
        route = mock.post(CHAT_URL)
        async with httpx.AsyncClient() as client:
            route.mock(side_effect=httpx.ReadTimeout("slow"))
            with pytest.raises(ProviderTimeout):
                await ADAPTER.chat(client, CREDS, request())
            for bad in (b"not json", b'{"choices": []}', b'{"choices": [{"message": {"content": 5}}]}'):
                route.mock(return_value=httpx.Response(200, content=bad))
                with pytest.raises(MalformedResponse):
                    await ADAPTER.chat(client, CREDS, request())


@pytest.mark.anyio
async def test_embed_sends_output_dimension_and_orders_by_index() -> None:
    answer = {
        "id": "e1",
        "object": "list",
        "model": "codestral-embed",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
        ],
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/embeddings").mock(return_value=httpx.Response(200, json=answer))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.embed(client, CREDS, "codestral-embed", ["def f():", "class A:"], dimensions=2)
    assert json.loads(route.calls.last.request.content) == {
        "model": "codestral-embed",
        "input": ["def f():", "class A:"],
        "output_dimension": 2,
    }
    assert result.vectors == [[0.1, 0.2], [0.3, 0.4]]
    assert result.usage.input_tokens == 6


@pytest.mark.anyio
async def test_embed_without_dimensions_and_wrong_count_is_malformed() -> None:
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/embeddings").mock(
            return_value=httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.1]}]})
        )
        async with httpx.AsyncClient() as client:
            with pytest.raises(MalformedResponse):
                await ADAPTER.embed(client, CREDS, "mistral-embed", ["a", "b"])
    assert json.loads(route.calls.last.request.content) == {"model": "mistral-embed", "input": ["a", "b"]}
