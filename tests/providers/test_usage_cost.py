"""Token usage (cached input, cache writes, reasoning) from every API that reports it, and each call's cost.

Usage objects are the documented ones: Anthropic ``cache_creation_input_tokens``
/ ``cache_read_input_tokens`` (not part of ``input_tokens``), OpenAI
``prompt_tokens_details.cached_tokens`` and ``completion_tokens_details.reasoning_tokens``
(parts of the totals), Gemini ``cachedContentTokenCount`` / ``thoughtsTokenCount``,
Bedrock ``cacheReadInputTokens`` / ``cacheWriteInputTokens``.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers import Keys, Message, ProviderClient
from providers.catalog import Price
from providers.reliability import ProviderObserver
from providers.types import ChatRequest, Credentials, Usage
from providers.wire.anthropic import CACHE_SYSTEM_MIN_CHARS
from providers.wire.bedrock import BedrockAdapter
from tests.providers.test_wire_bedrock import AWS, RUNTIME

ENV = {
    "OPENAI_API_KEY": "sk-fake-openai-0000",
    "ANTHROPIC_API_KEY": "sk-ant-fake-0000",
    "GEMINI_API_KEY": "fake-gemini-key-0000",
}
ASK = [Message("user", "hi")]


class Heard(ProviderObserver):
    def __init__(self):
        self.usage = []

    def on_usage(self, provider, model, usage, cost_usd):
        self.usage.append((provider, model, usage, cost_usd))


def client(observer=None):
    return ProviderClient(Keys(None, ENV), http=httpx.AsyncClient(), observer=observer)


def test_price_counts_cached_and_written_input_at_their_own_prices():
    price = Price(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)
    usage = Usage(input_tokens=10_000, output_tokens=1_000, cached_input_tokens=6_000, cache_write_tokens=2_000)
    # 2,000 fresh * 3 + 6,000 read * 0.3 + 2,000 written * 3.75 + 1,000 out * 15, per million
    assert price.cost(usage) == pytest.approx((6_000 + 1_800 + 7_500 + 15_000) / 1e6)
    assert Price(1.0, 2.0).cost(Usage(input_tokens=100, cached_input_tokens=100)) == pytest.approx(100 / 1e6)


@pytest.mark.anyio
@respx.mock
async def test_openai_cached_and_reasoning_tokens_and_cost():
    respx.post("https://api.openai.com/v1/chat/completions").respond(
        200,
        json={
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
            "usage": {
                "prompt_tokens": 1000,
                "completion_tokens": 100,
                "total_tokens": 1100,
                "prompt_tokens_details": {"cached_tokens": 800, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
        },
    )
    heard = Heard()
    result = await client(heard).chat("openai/gpt-4o-mini", ASK)
    assert result.usage == Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=800)
    # gpt-4o-mini: 0.15 in, 0.075 cached, 0.6 out per million
    assert result.metadata["cost_usd"] == pytest.approx((200 * 0.15 + 800 * 0.075 + 100 * 0.6) / 1e6)
    assert heard.usage == [("openai", "openai/gpt-4o-mini", result.usage, result.metadata["cost_usd"])]


ANTHROPIC = "https://api.anthropic.com/v1/messages"


def anthropic_answer(usage):
    return {
        "id": "msg",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": usage,
    }


@pytest.mark.anyio
@respx.mock
async def test_anthropic_long_system_prompt_is_cached_and_cache_tokens_are_counted():
    route = respx.post(ANTHROPIC).mock(
        side_effect=[
            httpx.Response(
                200,
                json=anthropic_answer(
                    {
                        "input_tokens": 12,
                        "cache_creation_input_tokens": 1500,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 40,
                    }
                ),
            ),
            httpx.Response(
                200,
                json=anthropic_answer(
                    {
                        "input_tokens": 12,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 1500,
                        "output_tokens": 40,
                    }
                ),
            ),
        ]
    )
    system = Message("system", "You are a careful agent. " * (CACHE_SYSTEM_MIN_CHARS // 20))
    c = client()
    first = await c.chat("anthropic/claude-sonnet-4-5", [system, *ASK])
    second = await c.chat("anthropic/claude-sonnet-4-5", [system, *ASK])
    sent = json.loads(route.calls.last.request.content)
    assert sent["system"] == [{"type": "text", "text": system.content, "cache_control": {"type": "ephemeral"}}]
    assert first.usage == Usage(input_tokens=1512, output_tokens=40, cache_write_tokens=1500)
    assert second.usage == Usage(input_tokens=1512, output_tokens=40, cached_input_tokens=1500)
    # Sonnet: 3 in, 0.3 cache read, 3.75 cache write, 15 out per million
    assert first.metadata["cost_usd"] == pytest.approx((12 * 3 + 1500 * 3.75 + 40 * 15) / 1e6)
    assert second.metadata["cost_usd"] == pytest.approx((12 * 3 + 1500 * 0.3 + 40 * 15) / 1e6)


@pytest.mark.anyio
@respx.mock
async def test_anthropic_short_system_prompt_stays_a_plain_string():
    route = respx.post(ANTHROPIC).respond(200, json=anthropic_answer({"input_tokens": 5, "output_tokens": 1}))
    await client().chat("anthropic/claude-sonnet-4-5", [Message("system", "Be brief."), *ASK])
    assert json.loads(route.calls.last.request.content)["system"] == "Be brief."


@pytest.mark.anyio
@respx.mock
async def test_anthropic_stream_reads_cache_tokens_from_message_start():
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "content": [],
                "usage": {
                    "input_tokens": 10,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 2000,
                    "output_tokens": 1,
                },
            },
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 25}},
        {"type": "message_stop"},
    ]
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
    respx.post(ANTHROPIC).respond(200, content=body, headers={"content-type": "text/event-stream"})
    last = [d async for d in client().stream_chat("anthropic/claude-sonnet-4-5", ASK)][-1]
    assert last.usage == Usage(input_tokens=2010, output_tokens=25, cached_input_tokens=2000)
    assert last.metadata["cost_usd"] == pytest.approx((10 * 3 + 2000 * 0.3 + 25 * 15) / 1e6)


@pytest.mark.anyio
@respx.mock
async def test_gemini_cached_content_and_thoughts_are_counted():
    respx.post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent").respond(
        200,
        json={
            "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
            "usageMetadata": {
                "promptTokenCount": 5000,
                "cachedContentTokenCount": 4000,
                "candidatesTokenCount": 20,
                "thoughtsTokenCount": 80,
                "totalTokenCount": 5100,
            },
        },
    )
    result = await client().chat("google/gemini-2.5-flash", ASK)
    assert result.usage == Usage(input_tokens=5000, output_tokens=100, thinking_tokens=80, cached_input_tokens=4000)
    assert result.metadata["cost_usd"] == pytest.approx((1000 * 0.3 + 4000 * 0.075 + 100 * 2.5) / 1e6)


@pytest.mark.anyio
async def test_bedrock_cache_read_and_write_tokens_are_counted():
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": 30,
            "outputTokens": 10,
            "totalTokens": 1540,
            "cacheReadInputTokens": 1000,
            "cacheWriteInputTokens": 500,
        },
        "metrics": {"latencyMs": 5},
    }
    model = "anthropic.claude-sonnet-4-20250514-v1:0"
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{RUNTIME}/model/anthropic.claude-sonnet-4-20250514-v1%3A0/converse").respond(200, json=answer)
        async with httpx.AsyncClient() as http:
            result = await BedrockAdapter(AWS).chat(
                http, Credentials("bedrock", "", extra={"region": "us-east-1"}), ChatRequest(model=model, messages=ASK)
            )
    assert result.usage == Usage(input_tokens=1530, output_tokens=10, cached_input_tokens=1000, cache_write_tokens=500)


@pytest.mark.anyio
@respx.mock
async def test_a_model_without_a_catalog_price_says_its_cost_is_unknown():
    respx.post("https://api.openai.com/v1/chat/completions").respond(
        200,
        json={
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "ft:gpt-4o-mini:acme",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        },
    )
    result = await client().chat("openai/ft:gpt-4o-mini:acme", ASK)
    assert "cost_usd" not in result.metadata and "no price" in result.metadata["cost_note"]


@pytest.mark.anyio
@respx.mock
async def test_openrouter_reports_cached_tokens_the_openai_way():
    respx.post("https://openrouter.ai/api/v1/chat/completions").respond(
        200,
        json={
            "id": "gen-1",
            "object": "chat.completion",
            "created": 1,
            "model": "anthropic/claude-sonnet-4",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
            "usage": {
                "prompt_tokens": 3000,
                "completion_tokens": 10,
                "total_tokens": 3010,
                "prompt_tokens_details": {"cached_tokens": 2500},
            },
        },
    )
    c = ProviderClient(Keys(None, {"OPENROUTER_API_KEY": "sk-or-fake-0000"}), http=httpx.AsyncClient())
    result = await c.chat("openrouter/anthropic/claude-sonnet-4", ASK)
    assert result.usage.cached_input_tokens == 2500 and result.usage.input_tokens == 3000
