"""Anthropic Messages adapter against respx fakes shaped like docs.anthropic.com responses."""

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
from providers.wire.anthropic import ADAPTER, build_body

FAKE_KEY = "fake-anthropic-key-0000"
BASE = "https://api.anthropic.com"
URL = f"{BASE}/v1/messages"
CREDS = Credentials(provider="anthropic", base_url=BASE, api_key=FAKE_KEY)
MODEL = "claude-sonnet-4-5"

ANSWER = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [
        {"type": "thinking", "thinking": "Two plus two.", "signature": "c2lnbmF0dXJl"},
        {"type": "text", "text": "4"},
    ],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 35},
}


def error_body(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


def sse(*events: dict) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def request(level=None, **kwargs) -> ChatRequest:
    messages = [Message("system", "Be exact."), Message("user", "2+2?")]
    return ChatRequest(model=MODEL, messages=messages, thinking_level=level, **kwargs)


@pytest.mark.anyio
async def test_chat_sends_documented_headers_and_body_with_thinking() -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(200, json=ANSWER))
        async with httpx.AsyncClient() as client:
            result = await ADAPTER.chat(client, CREDS, request("medium", max_tokens=500))
    sent = route.calls.last.request
    assert sent.headers["x-api-key"] == FAKE_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "model": MODEL,
        "messages": [{"role": "user", "content": "2+2?"}],
        "system": "Be exact.",
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "max_tokens": 4596,
    }
    assert (result.text, result.thinking, result.finish_reason) == ("4", "Two plus two.", "end_turn")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (20, 35)
    assert result.thinking_applied is True


@pytest.mark.parametrize(
    ("level", "thinking", "max_tokens"),
    [
        (None, None, 4096),
        ("off", None, 4096),
        ("low", {"type": "enabled", "budget_tokens": 1024}, 1024 + 4096),
        ("high", {"type": "enabled", "budget_tokens": 16384}, 16384 + 4096),
    ],
)
def test_thinking_levels_map_to_documented_budgets(level, thinking, max_tokens) -> None:
    body, applied, _ = build_body(request(level))
    assert body.get("thinking") == thinking
    assert body["max_tokens"] == max_tokens
    assert body["max_tokens"] > body.get("thinking", {}).get("budget_tokens", 0)
    assert applied is (thinking is not None)


def test_temperature_is_sent_without_thinking_and_dropped_with_it() -> None:
    plain, _, note = build_body(request(None, temperature=0.3))
    assert plain["temperature"] == 0.3 and note is None
    thinking, _, note = build_body(request("low", temperature=0.3))
    assert "temperature" not in thinking and "temperature" in note


@pytest.mark.anyio
async def test_stream_reads_text_and_thinking_deltas_and_cumulative_usage() -> None:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": MODEL,
                "stop_reason": None,
                "usage": {"input_tokens": 25, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "abc"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "ping"},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "!"}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        },
        {"type": "message_stop"},
    ]
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(
            return_value=httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse(*events))
        )
        async with httpx.AsyncClient() as client:
            deltas = [d async for d in ADAPTER.stream_chat(client, CREDS, request("low"))]
    assert json.loads(route.calls.last.request.content)["stream"] is True
    assert [(d.thinking, d.text) for d in deltas[:-1]] == [("Hmm.", ""), ("", "Hello"), ("", "!")]
    assert deltas[-1].done and deltas[-1].finish_reason == "end_turn"
    assert (deltas[-1].usage.input_tokens, deltas[-1].usage.output_tokens) == (25, 15)


@pytest.mark.anyio
async def test_overloaded_error_event_mid_stream_is_provider_unavailable() -> None:
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        error_body("overloaded_error", "Overloaded"),
    ]
    seen = []
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, content=sse(*events)))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderUnavailable) as info:
                async for delta in ADAPTER.stream_chat(client, CREDS, request()):
                    seen.append(delta.text)
    assert seen == ["Hi"]
    assert info.value.status == 529 and "Overloaded" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "headers", "body", "error"),
    [
        (401, {}, error_body("authentication_error", "invalid x-api-key"), AuthError),
        (
            429,
            {"retry-after": "30"},
            error_body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
            RateLimited,
        ),
        (500, {}, error_body("api_error", "Internal server error"), ProviderUnavailable),
        (529, {}, error_body("overloaded_error", "Overloaded"), ProviderUnavailable),
        (400, {}, error_body("invalid_request_error", "max_tokens: Field required"), ProviderStatusError),
    ],
)
async def test_error_statuses_map_to_the_error_tree(status, headers, body, error) -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(status, headers=headers, json=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as info:
                await ADAPTER.chat(client, CREDS, request())
    exc = info.value
    assert type(exc) is error and exc.status == status
    assert body["error"]["message"] in str(exc)
    assert FAKE_KEY not in str(exc) and FAKE_KEY not in exc.body
    if status == 429:
        assert exc.retry_after == 30.0


@pytest.mark.anyio
async def test_streaming_error_status_is_raised_with_its_body() -> None:
    with respx.mock() as mock:
        body = error_body("authentication_error", "bad key")
        mock.post(URL).mock(return_value=httpx.Response(401, json=body))
        async with httpx.AsyncClient() as client:
            with pytest.raises(AuthError, match="bad key"):
                async for _ in ADAPTER.stream_chat(client, CREDS, request()):
                    pass


@pytest.mark.anyio
async def test_timeout_is_provider_timeout() -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=httpx.ReadTimeout("timed out"))
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderTimeout):
                await ADAPTER.chat(client, CREDS, request())


@pytest.mark.anyio
@pytest.mark.parametrize("content", [b"Bad Gateway", b'{"content": "text"}', b'{"content": ["x"]}'])
async def test_malformed_success_body_is_malformed_response(content) -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, content=content))
        async with httpx.AsyncClient() as client:
            with pytest.raises(MalformedResponse):
                await ADAPTER.chat(client, CREDS, request())


@pytest.mark.anyio
async def test_missing_key_names_the_env_var() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(MissingCredentials) as info:
            await ADAPTER.chat(client, Credentials(provider="anthropic", base_url=BASE), request())
    assert info.value.env_var == "ANTHROPIC_API_KEY"


@pytest.mark.anyio
async def test_embeddings_are_refused_with_a_clear_message() -> None:
    with respx.mock() as mock:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError, match="Anthropic has no embeddings API"):
                await ADAPTER.embed(client, CREDS, MODEL, ["text"])
        assert not mock.calls


@pytest.mark.anyio
async def test_list_models_reads_data_array() -> None:
    listing = {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
            }
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-sonnet-4-5-20250929",
    }
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(f"{BASE}/v1/models", params={"limit": "1000"}).mock(
            return_value=httpx.Response(200, json=listing)
        )
        async with httpx.AsyncClient() as client:
            models = await ADAPTER.list_models(client, CREDS)
    assert route.calls.last.request.headers["anthropic-version"] == "2023-06-01"
    assert models == [
        {"id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}
    ]


@pytest.mark.anyio
async def test_every_request_pins_the_api_version_its_features_are_documented_under() -> None:
    """2023-06-01 carries everything sent here (thinking, tools, cache_control); 2026-10-21 would refuse
    the temperature callers may set, so a silent bump of the pin must fail this test."""
    stream_body = sse(
        {"type": "message_start", "message": {"usage": {"input_tokens": 1, "output_tokens": 0}}},
        {"type": "message_stop"},
    )
    with respx.mock(assert_all_called=True) as mock:
        chat = mock.post(URL).mock(
            side_effect=[
                httpx.Response(200, json=ANSWER),
                httpx.Response(200, content=stream_body, headers={"content-type": "text/event-stream"}),
            ]
        )
        listing = mock.get(f"{BASE}/v1/models").respond(200, json={"data": [], "has_more": False})
        async with httpx.AsyncClient() as client:
            await ADAPTER.chat(client, CREDS, request(temperature=0.2))
            [d async for d in ADAPTER.stream_chat(client, CREDS, request())]
            await ADAPTER.list_models(client, CREDS)
    sent = [call.request for call in chat.calls] + [listing.calls.last.request]
    assert [r.headers.get_list("anthropic-version") for r in sent] == [["2023-06-01"]] * 3
    assert json.loads(sent[0].content)["temperature"] == 0.2  # accepted under the pinned version
    assert all("anthropic-beta" not in r.headers for r in sent)
