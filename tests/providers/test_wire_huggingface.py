"""Hugging Face adapter: router chat (OpenAI shapes) and feature-extraction embeddings."""

from __future__ import annotations

import json
import math

import httpx
import pytest
import respx

from providers.errors import (
    AuthError,
    MalformedResponse,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from providers.types import ChatRequest, Credentials, Message
from providers.wire.huggingface import ADAPTER

FAKE_TOKEN = "hf_fake_token_0000"
BASE = "https://router.huggingface.co/v1"
CREDS = Credentials(provider="huggingface", base_url=BASE, api_key=FAKE_TOKEN)
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_URL = f"https://router.huggingface.co/hf-inference/models/{EMBED_MODEL}/pipeline/feature-extraction"


def request(**kwargs) -> ChatRequest:
    return ChatRequest(model=MODEL, messages=[Message("user", "hi")], **kwargs)


@pytest.mark.anyio
async def test_chat_goes_through_the_router_with_bearer_token() -> None:
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=answer))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(client, CREDS, request(max_tokens=20, temperature=0.1))
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
    assert json.loads(sent.content) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 20,
        "temperature": 0.1,
    }
    assert (result.text, result.usage.input_tokens) == ("hello", 5)


@pytest.mark.anyio
async def test_chat_stream_uses_openai_sse() -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": "he"}}]},
        {
            "choices": [{"index": 0, "delta": {"content": "llo"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        },
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, content=body.encode()))
        async with httpx.AsyncClient() as client:
            deltas = [d async for d in ADAPTER.stream_chat(client, CREDS, request())]
    assert "".join(d.text for d in deltas) == "hello"
    assert deltas[-1].done and deltas[-1].usage.output_tokens == 2


@pytest.mark.anyio
async def test_embed_sentence_model_returns_vectors_as_sent() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(EMBED_URL).mock(return_value=httpx.Response(200, json=[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.embed(client, CREDS, EMBED_MODEL, ["one", "two"])
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
    assert json.loads(sent.content) == {"inputs": ["one", "two"]}
    assert result.vectors == [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]


@pytest.mark.anyio
async def test_embed_token_level_output_is_mean_pooled_and_normalised() -> None:
    tokens = [
        [[1.0, 0.0], [3.0, 0.0]],  # mean (2, 0) -> (1, 0)
        [[0.0, 3.0], [4.0, 1.0], [2.0, 2.0]],  # mean (2, 2) -> (0.7071, 0.7071)
    ]
    with respx.mock(assert_all_called=True) as mock:
        mock.post(EMBED_URL).mock(return_value=httpx.Response(200, json=tokens))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.embed(client, CREDS, EMBED_MODEL, ["a", "b"])
    assert result.vectors[0] == pytest.approx([1.0, 0.0])
    assert result.vectors[1] == pytest.approx([math.sqrt(0.5), math.sqrt(0.5)])


@pytest.mark.anyio
async def test_embed_single_flat_vector_is_accepted_for_one_input() -> None:
    with respx.mock() as mock:
        mock.post(EMBED_URL).mock(return_value=httpx.Response(200, json=[0.5, 0.5]))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.embed(client, CREDS, EMBED_MODEL, ["only"])
    assert result.vectors == [[0.5, 0.5]]


@pytest.mark.anyio
@pytest.mark.parametrize("answer", [[[0.1, 0.2]], {"error": "odd"}, [["x", "y"], ["z", "w"]], "text"])
async def test_embed_wrong_shape_is_malformed(answer) -> None:
    with respx.mock() as mock:
        mock.post(EMBED_URL).mock(return_value=httpx.Response(200, json=answer))
        async with httpx.AsyncClient() as client:
            with pytest.raises(MalformedResponse):
                await ADAPTER.embed(client, CREDS, EMBED_MODEL, ["one", "two"])


@pytest.mark.anyio
async def test_embed_refuses_dimensions_without_sending() -> None:
    with respx.mock() as mock:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError, match="dimensions"):
                await ADAPTER.embed(client, CREDS, EMBED_MODEL, ["a"], dimensions=128)
        assert not mock.calls


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "headers", "body", "error"),
    [
        (401, {}, {"error": "Invalid credentials in Authorization header"}, AuthError),
        (
            429,
            {"retry-after": "9"},
            {"error": "Rate limit reached. You reached free usage limit."},
            RateLimited,
        ),
        (
            503,
            {},
            {"error": f"Model {EMBED_MODEL} is currently loading", "estimated_time": 20.0},
            ProviderUnavailable,
        ),
    ],
)
async def test_embed_errors_map_to_the_error_tree(status, headers, body, error) -> None:
    with respx.mock() as mock:
        mock.post(EMBED_URL).mock(return_value=httpx.Response(status, headers=headers, json=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(error) as info:
                await ADAPTER.embed(client, CREDS, EMBED_MODEL, ["a"])
    assert body["error"] in str(info.value)
    assert FAKE_TOKEN not in str(info.value) and FAKE_TOKEN not in info.value.body
    if status == 429:
        assert info.value.retry_after == 9.0


@pytest.mark.anyio
async def test_timeouts_are_provider_timeouts() -> None:
    with respx.mock() as mock:
        mock.post(EMBED_URL).mock(side_effect=httpx.ReadTimeout("slow"))
        mock.post(f"{BASE}/chat/completions").mock(side_effect=httpx.ReadTimeout("slow"))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderTimeout):
                await ADAPTER.embed(client, CREDS, EMBED_MODEL, ["a"])
            with pytest.raises(ProviderTimeout):
                await ADAPTER.chat(client, CREDS, request())
