"""Azure OpenAI adapter: per-deployment URLs, api-version, ``api-key`` header, OpenAI shapes."""

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
    ProviderStatusError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from providers.types import ChatRequest, Credentials, Message
from providers.wire.azure import ADAPTER

FAKE_KEY = "fake-azure-key-0000"
ENDPOINT = "https://myres.openai.azure.com"
VERSION = "2024-12-01-preview"
CREDS = Credentials(
    provider="azure",
    base_url=ENDPOINT,
    api_key=FAKE_KEY,
    extra={"endpoint": ENDPOINT, "api_version": VERSION},
)
CHAT_URL = f"{ENDPOINT}/openai/deployments/my-gpt/chat/completions"
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-2024-11-20",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Paris."},
            "content_filter_results": {},
        }
    ],
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}


def request(**kwargs) -> ChatRequest:
    return ChatRequest(
        model="my-gpt",
        messages=[Message("system", "Be brief."), Message("user", "Capital of France?")],
        **kwargs,
    )


def azure_error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


@pytest.mark.anyio
async def test_chat_uses_deployment_url_api_version_and_api_key_header() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(CHAT_URL, params={"api-version": VERSION}).mock(return_value=httpx.Response(200, json=ANSWER))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(client, CREDS, request(max_tokens=50, thinking_level="low"))
    sent = route.calls.last.request
    assert sent.headers["api-key"] == FAKE_KEY
    assert "authorization" not in sent.headers
    assert json.loads(sent.content) == {
        "model": "my-gpt",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "max_completion_tokens": 50,
        "reasoning_effort": "low",
    }
    assert result.text == "Paris." and result.finish_reason == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 2)


@pytest.mark.anyio
async def test_default_api_version_when_none_is_configured() -> None:
    creds = Credentials(provider="azure", base_url=ENDPOINT, api_key=FAKE_KEY, extra={"endpoint": ENDPOINT})
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(CHAT_URL).mock(return_value=httpx.Response(200, json=ANSWER))
        async with httpx.AsyncClient() as client:
            await ADAPTER.chat(client, creds, request())
    assert route.calls.last.request.url.params["api-version"] == "2024-10-21"


@pytest.mark.anyio
async def test_stream_reads_openai_chunks_after_the_prompt_filter_chunk() -> None:
    chunks = [
        {"choices": [], "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]},
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Par"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(CHAT_URL, params={"api-version": VERSION}).mock(
            return_value=httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())
        )
        async with httpx.AsyncClient() as client:
            deltas = [d async for d in ADAPTER.stream_chat(client, CREDS, request())]
    assert json.loads(route.calls.last.request.content)["stream"] is True
    assert "".join(d.text for d in deltas) == "Paris."
    assert deltas[-1].done and deltas[-1].finish_reason == "stop" and deltas[-1].usage.output_tokens == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "headers", "body", "error"),
    [
        (
            401,
            {},
            azure_error("401", "Access denied due to invalid subscription key or wrong API endpoint."),
            AuthError,
        ),
        (
            429,
            {"retry-after": "20"},
            azure_error("429", "Requests to the ChatCompletions_Create Operation have exceeded token rate limit."),
            RateLimited,
        ),
        (
            500,
            {},
            azure_error("InternalServerError", "The server had an error processing your request."),
            ProviderUnavailable,
        ),
        (
            404,
            {},
            azure_error("DeploymentNotFound", "The API deployment for this resource does not exist."),
            ProviderStatusError,
        ),
    ],
)
async def test_error_statuses_map_to_the_error_tree(status, headers, body, error) -> None:
    with respx.mock() as mock:
        mock.post(CHAT_URL).mock(return_value=httpx.Response(status, headers=headers, json=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as info:
                await ADAPTER.chat(client, CREDS, request())
    exc = info.value
    assert type(exc) is error and exc.status == status and body["error"]["message"] in str(exc)
    assert FAKE_KEY not in str(exc) and FAKE_KEY not in exc.body
    if status == 429:
        assert exc.retry_after == 20.0


@pytest.mark.anyio
async def test_timeout_and_malformed_body() -> None:
    with respx.mock() as mock:
        route = mock.post(CHAT_URL)
        async with httpx.AsyncClient() as client:
            route.mock(side_effect=httpx.ReadTimeout("slow"))
            with pytest.raises(ProviderTimeout):
                await ADAPTER.chat(client, CREDS, request())
            route.mock(return_value=httpx.Response(200, content=b"<html>gateway</html>"))
            with pytest.raises(MalformedResponse):
                await ADAPTER.chat(client, CREDS, request())


@pytest.mark.anyio
async def test_missing_key_and_endpoint_name_their_env_vars() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(MissingCredentials) as key:
            await ADAPTER.chat(client, Credentials(provider="azure", base_url=ENDPOINT), request())
        with pytest.raises(MissingCredentials) as endpoint:
            await ADAPTER.chat(client, Credentials(provider="azure", base_url="", api_key=FAKE_KEY), request())
    assert key.value.env_var == "AZURE_OPENAI_API_KEY"
    assert endpoint.value.env_var == "AZURE_OPENAI_ENDPOINT"


@pytest.mark.anyio
async def test_embed_posts_to_the_embedding_deployment() -> None:
    url = f"{ENDPOINT}/openai/deployments/embed-small/embeddings"
    answer = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
        ],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url, params={"api-version": VERSION}).mock(return_value=httpx.Response(200, json=answer))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.embed(client, CREDS, "embed-small", ["a", "b"], dimensions=2)
    sent = route.calls.last.request
    assert sent.headers["api-key"] == FAKE_KEY
    assert json.loads(sent.content) == {
        "model": "embed-small",
        "input": ["a", "b"],
        "encoding_format": "float",
        "dimensions": 2,
    }
    assert result.vectors == [[0.1, 0.2], [0.3, 0.4]]
    assert result.usage.input_tokens == 4


@pytest.mark.anyio
async def test_list_models_reads_the_resource_model_list() -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{ENDPOINT}/openai/models", params={"api-version": VERSION}).mock(
            return_value=httpx.Response(
                200,
                json={
                    "object": "list",
                    "data": [
                        {
                            "id": "gpt-4o-2024-11-20",
                            "object": "model",
                            "capabilities": {"chat_completion": True},
                        }
                    ],
                },
            )
        )
        async with httpx.AsyncClient() as client:
            models = await ADAPTER.list_models(client, CREDS)
    assert [m["id"] for m in models] == ["gpt-4o-2024-11-20"]
