"""Gemini API adapter against respx fakes shaped like https://ai.google.dev/api responses."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers.errors import (
    AuthError,
    MalformedResponse,
    MissingCredentials,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from providers.types import ChatRequest, Credentials, Message
from providers.wire.gemini import ADAPTER, thinking_config

FAKE_KEY = "fake-gemini-key-0000"
BASE = "https://generativelanguage.googleapis.com"
CREDS = Credentials(provider="gemini", base_url=BASE, api_key=FAKE_KEY)
FLASH_URL = f"{BASE}/v1beta/models/gemini-2.5-flash:generateContent"
STREAM_URL = f"{BASE}/v1beta/models/gemini-2.5-flash:streamGenerateContent"

MESSAGES = [
    Message("system", "Answer briefly."),
    Message("user", "What is 2+2?"),
    Message("assistant", "4"),
    Message("user", "And 3+3?"),
]

SUCCESS_BODY = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "Adding three and three.", "thought": True},
                    {"text": "6"},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 12,
        "candidatesTokenCount": 1,
        "thoughtsTokenCount": 40,
        "totalTokenCount": 53,
    },
    "modelVersion": "gemini-2.5-flash",
}


def error_body(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


def sse(*chunks: dict) -> bytes:
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


def assert_no_secret(exc: ProviderError) -> None:
    assert FAKE_KEY not in str(exc)
    assert FAKE_KEY not in getattr(exc, "body", "")


@pytest.mark.anyio
async def test_chat_sends_documented_request_and_reads_thoughts_and_usage() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(FLASH_URL).mock(return_value=httpx.Response(200, json=SUCCESS_BODY))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(
                client,
                CREDS,
                ChatRequest(
                    model="gemini-2.5-flash",
                    messages=MESSAGES,
                    thinking_level="medium",
                    max_tokens=256,
                    temperature=0.2,
                    json_output=True,
                ),
            )
    sent = route.calls.last.request
    assert sent.headers["x-goog-api-key"] == FAKE_KEY
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "contents": [
            {"role": "user", "parts": [{"text": "What is 2+2?"}]},
            {"role": "model", "parts": [{"text": "4"}]},
            {"role": "user", "parts": [{"text": "And 3+3?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Answer briefly."}]},
        "generationConfig": {
            "maxOutputTokens": 256,
            "temperature": 0.2,
            "responseMimeType": "application/json",
            "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
        },
    }
    assert result.text == "6"
    assert result.thinking == "Adding three and three."
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.thinking_tokens) == (12, 41, 40)  # thoughts are output
    assert result.finish_reason == "STOP"
    assert result.thinking_applied is True
    assert result.provider == "gemini" and result.model == "gemini-2.5-flash"


@pytest.mark.parametrize(
    ("model", "level", "config", "applied"),
    [
        ("gemini-2.5-flash", "off", {"thinkingBudget": 0}, False),
        ("gemini-2.5-flash", "low", {"thinkingBudget": 1024, "includeThoughts": True}, True),
        ("gemini-2.5-flash", "high", {"thinkingBudget": 24576, "includeThoughts": True}, True),
        ("gemini-2.5-pro", "off", {"thinkingBudget": 128}, True),
        ("gemini-3-flash-preview", "off", {"thinkingLevel": "minimal"}, False),
        ("gemini-3-flash-preview", "medium", {"thinkingLevel": "medium", "includeThoughts": True}, True),
        ("gemini-3-pro-preview", "medium", {"thinkingLevel": "high", "includeThoughts": True}, True),
        ("gemini-3-pro-preview", "off", {"thinkingLevel": "low"}, True),
        ("models/gemini-2.5-flash-lite", "low", {"thinkingBudget": 1024, "includeThoughts": True}, True),
        ("gemini-2.0-flash", "high", None, False),
        ("gemini-2.5-flash", None, None, True),
    ],
)
def test_thinking_level_maps_to_the_generations_own_knob(model, level, config, applied) -> None:
    choice = thinking_config(model, level)
    assert choice.config == config
    assert choice.applied is applied


def test_levels_a_model_cannot_honour_carry_a_note() -> None:
    assert "cannot turn thinking off" in thinking_config("gemini-2.5-pro", "off").note
    assert "cannot think" in thinking_config("gemini-2.0-flash", "low").note
    assert thinking_config("gemini-2.5-flash", "low").note is None


@pytest.mark.anyio
async def test_model_that_cannot_think_gets_no_thinking_config() -> None:
    url = f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(200, json=SUCCESS_BODY))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(
                client,
                CREDS,
                ChatRequest(model="gemini-2.0-flash", messages=[Message("user", "hi")], thinking_level="high"),
            )
    assert "generationConfig" not in json.loads(route.calls.last.request.content)
    assert result.thinking_applied is False
    assert "cannot think" in result.metadata["thinking_note"]


@pytest.mark.anyio
async def test_blocked_prompt_returns_empty_text_with_block_reason() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    with respx.mock() as mock:
        mock.post(FLASH_URL).mock(return_value=httpx.Response(200, json=blocked))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(
                client, CREDS, ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "x")])
            )
    assert result.text == ""
    assert result.finish_reason == "blocked:SAFETY"
    assert result.usage.input_tokens == 5


@pytest.mark.anyio
async def test_stream_yields_thoughts_then_text_then_usage() -> None:
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "Think", "thought": True}], "role": "model"}}]},
        {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}}]},
        {
            "candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "thoughtsTokenCount": 9},
        },
    ]
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(STREAM_URL, params={"alt": "sse"}).mock(
            return_value=httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse(*chunks))
        )
        async with httpx.AsyncClient() as client:
            deltas = [
                d
                async for d in ADAPTER.stream_chat(
                    client,
                    CREDS,
                    ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")], thinking_level="low"),
                )
            ]
    assert route.calls.last.request.headers["x-goog-api-key"] == FAKE_KEY
    assert [(d.thinking, d.text) for d in deltas[:-1]] == [("Think", ""), ("", "Hel"), ("", "lo")]
    last = deltas[-1]
    assert last.done and last.finish_reason == "STOP"
    assert (last.usage.input_tokens, last.usage.output_tokens, last.usage.thinking_tokens) == (3, 11, 9)


@pytest.mark.anyio
async def test_stream_error_status_raises_before_any_delta() -> None:
    with respx.mock() as mock:
        mock.post(STREAM_URL).mock(
            return_value=httpx.Response(
                429, headers={"retry-after": "3"}, json=error_body(429, "RESOURCE_EXHAUSTED", "quota")
            )
        )
        async with httpx.AsyncClient() as client:
            with pytest.raises(RateLimited) as info:
                async for _ in ADAPTER.stream_chat(
                    client, CREDS, ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")])
                ):
                    pass
    assert info.value.retry_after == 3.0


@pytest.mark.anyio
async def test_error_inside_stream_maps_to_the_error_tree() -> None:
    body = sse(
        {"candidates": [{"content": {"parts": [{"text": "a"}]}}]},
        error_body(503, "UNAVAILABLE", "The model is overloaded."),
    )
    with respx.mock() as mock:
        mock.post(STREAM_URL).mock(return_value=httpx.Response(200, content=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderUnavailable, match="overloaded"):
                async for _ in ADAPTER.stream_chat(
                    client, CREDS, ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")])
                ):
                    pass


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "headers", "body", "error"),
    [
        (400, {}, error_body(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."), None),
        (403, {}, error_body(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."), AuthError),
        (429, {"retry-after": "7"}, error_body(429, "RESOURCE_EXHAUSTED", "Resource exhausted."), RateLimited),
        (500, {}, error_body(500, "INTERNAL", "An internal error has occurred."), ProviderUnavailable),
    ],
)
async def test_error_statuses_map_to_the_error_tree(status, headers, body, error) -> None:
    with respx.mock() as mock:
        mock.post(FLASH_URL).mock(return_value=httpx.Response(status, headers=headers, json=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as info:
                await ADAPTER.chat(
                    client, CREDS, ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")])
                )
    exc = info.value
    if error is not None:
        assert type(exc) is error
    assert exc.status == status
    assert body["error"]["message"] in str(exc)
    assert_no_secret(exc)
    if status == 429:
        assert exc.retry_after == 7.0


@pytest.mark.anyio
async def test_timeout_is_provider_timeout() -> None:
    with respx.mock() as mock:
        mock.post(FLASH_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderTimeout) as info:
                await ADAPTER.chat(
                    client, CREDS, ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")])
                )
    assert_no_secret(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("content", [b"<html>oops</html>", b'{"candidates": "nope"}', b"[1, 2]"])
async def test_malformed_success_body_is_malformed_response(content) -> None:
    with respx.mock() as mock:
        mock.post(FLASH_URL).mock(return_value=httpx.Response(200, content=content))
        async with httpx.AsyncClient() as client:
            with pytest.raises(MalformedResponse):
                await ADAPTER.chat(
                    client, CREDS, ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")])
                )


@pytest.mark.anyio
async def test_missing_key_names_the_env_var_and_sends_nothing() -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        async with httpx.AsyncClient() as client:
            with pytest.raises(MissingCredentials) as info:
                await ADAPTER.chat(
                    client,
                    Credentials(provider="gemini", base_url=BASE),
                    ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")]),
                )
        assert not mock.calls
    assert info.value.env_var == "GEMINI_API_KEY"
    assert "GEMINI_API_KEY" in str(info.value)


@pytest.mark.anyio
async def test_embed_batches_requests_with_dimensions() -> None:
    url = f"{BASE}/v1beta/models/gemini-embedding-001:batchEmbedContents"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(
            return_value=httpx.Response(
                200, json={"embeddings": [{"values": [0.1, 0.2, 0.3]}, {"values": [0.4, 0.5, 0.6]}]}
            )
        )
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.embed(client, CREDS, "gemini-embedding-001", ["alpha", "beta"], dimensions=3)
    sent = route.calls.last.request
    assert sent.headers["x-goog-api-key"] == FAKE_KEY
    item = {"model": "models/gemini-embedding-001", "outputDimensionality": 3}
    assert json.loads(sent.content) == {
        "requests": [
            {**item, "content": {"parts": [{"text": "alpha"}]}},
            {**item, "content": {"parts": [{"text": "beta"}]}},
        ]
    }
    assert result.vectors == [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    assert result.model == "gemini-embedding-001"


@pytest.mark.anyio
async def test_embed_count_mismatch_is_malformed() -> None:
    url = f"{BASE}/v1beta/models/gemini-embedding-001:batchEmbedContents"
    with respx.mock() as mock:
        mock.post(url).mock(return_value=httpx.Response(200, json={"embeddings": [{"values": [0.1]}]}))
        async with httpx.AsyncClient() as client:
            with pytest.raises(MalformedResponse):
                await ADAPTER.embed(client, CREDS, "gemini-embedding-001", ["a", "b"])


@pytest.mark.anyio
async def test_embed_refuses_more_than_the_documented_batch_limit() -> None:
    assert ADAPTER.max_embed_batch == 100
    with respx.mock() as mock:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError, match="at most 100"):
                await ADAPTER.embed(client, CREDS, "gemini-embedding-001", ["x"] * 101)
        assert not mock.calls


@pytest.mark.anyio
async def test_list_models_strips_resource_prefix() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(f"{BASE}/v1beta/models", params={"pageSize": "1000"})
        route.mock(
            return_value=httpx.Response(
                200,
                json={
                    "models": [
                        {
                            "name": "models/gemini-2.5-flash",
                            "displayName": "Gemini 2.5 Flash",
                            "supportedGenerationMethods": ["generateContent", "countTokens"],
                            "inputTokenLimit": 1048576,
                            "outputTokenLimit": 65536,
                            "thinking": True,
                        },
                        {
                            "name": "models/gemini-embedding-001",
                            "displayName": "Gemini Embedding 001",
                            "supportedGenerationMethods": ["embedContent"],
                        },
                    ]
                },
            )
        )
        async with httpx.AsyncClient() as client:
            models = await ADAPTER.list_models(client, CREDS)
    assert route.calls.last.request.headers["x-goog-api-key"] == FAKE_KEY
    assert [m["id"] for m in models] == ["gemini-2.5-flash", "gemini-embedding-001"]
    assert models[0]["thinking"] is True and models[1]["methods"] == ["embedContent"]
