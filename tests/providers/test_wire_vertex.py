"""Vertex AI adapter: Gemini shapes at Vertex URLs, authenticated by a fake google-auth credentials object."""

from __future__ import annotations

import datetime as dt
import json

import google.auth.credentials
import google.auth.exceptions
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
from providers.wire.vertex import VertexAdapter

FAKE_TOKEN = "fake-vertex-token-0000"
PROJECT = "demo-project"
REGIONAL = (
    f"https://us-central1-aiplatform.googleapis.com/v1/projects/{PROJECT}/locations/us-central1"
    "/publishers/google/models"
)
GLOBAL = f"https://aiplatform.googleapis.com/v1/projects/{PROJECT}/locations/global/publishers/google/models"
ANSWER = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": "plan", "thought": True}, {"text": "ok"}]},
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "thoughtsTokenCount": 6},
}


class FakeGoogleCredentials(google.auth.credentials.Credentials):
    """A google-auth credentials object whose refresh mints a fixed fake token, counting refreshes."""

    def __init__(self) -> None:
        super().__init__()
        self.refresh_requests: list[object] = []

    def refresh(self, request) -> None:
        self.refresh_requests.append(request)
        self.token = FAKE_TOKEN
        self.expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)


def google_error(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


def creds(location: str = "us-central1", project: str | None = PROJECT) -> Credentials:
    extra = {"location": location} | ({"project": project} if project else {})
    return Credentials(provider="vertex", base_url="", extra=extra)


def hello(level=None) -> ChatRequest:
    messages = [Message("system", "Be terse."), Message("user", "hi")]
    return ChatRequest(model="gemini-2.5-flash", messages=messages, thinking_level=level)


@pytest.mark.anyio
async def test_chat_uses_regional_url_bearer_token_and_gemini_body() -> None:
    google_creds = FakeGoogleCredentials()
    adapter = VertexAdapter(google_creds)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{REGIONAL}/gemini-2.5-flash:generateContent").mock(
            return_value=httpx.Response(200, json=ANSWER)
        )
        async with httpx.AsyncClient() as client:
            first = await adapter.chat(client, creds(), hello("low"))
            await adapter.chat(client, creds(), hello("low"))
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
    assert json.loads(sent.content) == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}},
    }
    assert (first.text, first.thinking, first.usage.thinking_tokens) == ("ok", "plan", 6)
    assert len(google_creds.refresh_requests) == 1  # the token is reused while valid
    assert isinstance(google_creds.refresh_requests[0], google.auth.transport.requests.Request)


@pytest.mark.anyio
async def test_global_location_has_no_region_prefix() -> None:
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{GLOBAL}/gemini-2.5-flash:generateContent").mock(return_value=httpx.Response(200, json=ANSWER))
        async with httpx.AsyncClient() as client:
            result = await VertexAdapter(FakeGoogleCredentials()).chat(client, creds("global"), hello())
    assert result.text == "ok"


@pytest.mark.anyio
async def test_project_falls_back_to_the_one_adc_found() -> None:
    google_creds = FakeGoogleCredentials()
    adapter = VertexAdapter(loader=lambda: (google_creds, PROJECT))
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{REGIONAL}/gemini-2.5-flash:generateContent").mock(return_value=httpx.Response(200, json=ANSWER))
        async with httpx.AsyncClient() as client:
            await adapter.chat(client, creds(project=None), hello())
    assert google_creds.token == FAKE_TOKEN


@pytest.mark.anyio
async def test_missing_adc_names_what_to_do() -> None:
    def no_adc():
        raise google.auth.exceptions.DefaultCredentialsError("Could not automatically determine credentials.")

    async with httpx.AsyncClient() as client:
        with pytest.raises(MissingCredentials) as info:
            await VertexAdapter(loader=no_adc).chat(client, creds(), hello())
    assert info.value.env_var == "GOOGLE_APPLICATION_CREDENTIALS"
    assert "gcloud auth application-default login" in str(info.value)


@pytest.mark.anyio
async def test_missing_project_names_the_env_var() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(MissingCredentials) as info:
            await VertexAdapter(FakeGoogleCredentials()).chat(client, creds(project=None), hello())
    assert info.value.env_var == "GOOGLE_CLOUD_PROJECT"


@pytest.mark.anyio
async def test_failed_refresh_is_an_auth_error() -> None:
    class Expired(FakeGoogleCredentials):
        def refresh(self, request) -> None:
            raise google.auth.exceptions.RefreshError("invalid_grant: Token has been expired or revoked.")

    async with httpx.AsyncClient() as client:
        with pytest.raises(AuthError, match="could not be refreshed"):
            await VertexAdapter(Expired()).chat(client, creds(), hello())


@pytest.mark.anyio
async def test_stream_uses_sse_endpoint() -> None:
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "o"}]}}]},
        {
            "candidates": [{"content": {"parts": [{"text": "k"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 2},
        },
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{REGIONAL}/gemini-2.5-flash:streamGenerateContent", params={"alt": "sse"}).mock(
            return_value=httpx.Response(200, content=body)
        )
        async with httpx.AsyncClient() as client:
            adapter = VertexAdapter(FakeGoogleCredentials())
            deltas = [d async for d in adapter.stream_chat(client, creds(), hello())]
    assert route.calls.last.request.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
    assert "".join(d.text for d in deltas) == "ok"
    assert deltas[-1].done and deltas[-1].usage.output_tokens == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json=google_error(401, "UNAUTHENTICATED", "Request had invalid credentials.")), AuthError),
        (
            httpx.Response(429, headers={"retry-after": "12"}, json=google_error(429, "RESOURCE_EXHAUSTED", "Q")),
            RateLimited,
        ),
        (httpx.Response(503, json=google_error(503, "UNAVAILABLE", "Service unavailable")), ProviderUnavailable),
        (httpx.Response(200, content=b"not json"), MalformedResponse),
    ],
)
async def test_errors_map_to_the_error_tree(response, error) -> None:
    with respx.mock() as mock:
        mock.post(f"{REGIONAL}/gemini-2.5-flash:generateContent").mock(return_value=response)
        async with httpx.AsyncClient() as client:
            with pytest.raises(error) as info:
                await VertexAdapter(FakeGoogleCredentials()).chat(client, creds(), hello())
    assert FAKE_TOKEN not in str(info.value)
    if error is RateLimited:
        assert info.value.retry_after == 12.0


@pytest.mark.anyio
async def test_timeout_is_provider_timeout() -> None:
    with respx.mock() as mock:
        mock.post(f"{REGIONAL}/gemini-2.5-flash:generateContent").mock(side_effect=httpx.ReadTimeout("slow"))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderTimeout):
                await VertexAdapter(FakeGoogleCredentials()).chat(client, creds(), hello())


@pytest.mark.anyio
async def test_embed_uses_predict_instances_and_sums_tokens() -> None:
    predictions = {
        "predictions": [
            {"embeddings": {"values": [0.1, 0.2], "statistics": {"token_count": 3, "truncated": False}}},
            {"embeddings": {"values": [0.3, 0.4], "statistics": {"token_count": 5, "truncated": False}}},
        ]
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{REGIONAL}/text-embedding-005:predict").mock(
            return_value=httpx.Response(200, json=predictions)
        )
        async with httpx.AsyncClient() as client:
            result = await VertexAdapter(FakeGoogleCredentials()).embed(
                client, creds(), "text-embedding-005", ["one", "two"], dimensions=2
            )
    assert json.loads(route.calls.last.request.content) == {
        "instances": [{"content": "one"}, {"content": "two"}],
        "parameters": {"outputDimensionality": 2},
    }
    assert result.vectors == [[0.1, 0.2], [0.3, 0.4]]
    assert result.usage.input_tokens == 8


@pytest.mark.anyio
async def test_embed_without_values_is_malformed_and_big_batches_are_refused() -> None:
    adapter = VertexAdapter(FakeGoogleCredentials())
    with respx.mock() as mock:
        mock.post(f"{REGIONAL}/text-embedding-005:predict").mock(
            return_value=httpx.Response(200, json={"predictions": [{"embeddings": {}}]})
        )
        async with httpx.AsyncClient() as client:
            with pytest.raises(MalformedResponse):
                await adapter.embed(client, creds(), "text-embedding-005", ["one"])
            with pytest.raises(ProviderError, match="at most 250"):
                await adapter.embed(client, creds(), "text-embedding-005", ["x"] * 251)


@pytest.mark.anyio
async def test_list_models_reads_publisher_models() -> None:
    url = "https://us-central1-aiplatform.googleapis.com/v1beta1/publishers/google/models"
    with respx.mock(assert_all_called=True) as mock:
        listing = {
            "publisherModels": [
                {"name": "publishers/google/models/gemini-2.5-flash", "versionId": "001", "launchStage": "GA"}
            ]
        }
        mock.get(url, params={"pageSize": "1000"}).mock(return_value=httpx.Response(200, json=listing))
        async with httpx.AsyncClient() as client:
            models = await VertexAdapter(FakeGoogleCredentials()).list_models(client, creds())
    assert models == [{"id": "gemini-2.5-flash", "version": "001", "stage": "GA"}]
