"""The bench's cost column: the provider layer's reported cost per call, else the catalog's price."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers import Keys, ProviderClient
from providers.catalog import KNOWN_MODELS
from providers.types import ChatResult
from qmdr.bench.usage import catalog_price, instrument
from qmdr.search.expand import QueryExpander
from qmdr.search.llm_call import chat_fn_for
from qmdr.search.rerank import LLMReranker

OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
MINI = next(m.price for m in KNOWN_MODELS if (m.provider, m.id) == ("openai", "gpt-4o-mini"))


def completion(content: str, *, prompt: int, cached: int, output: int) -> httpx.Response:
    """A chat completion as OpenAI documents it, with cached prompt tokens in prompt_tokens_details."""
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content, "refusal": None},
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": output,
                "total_tokens": prompt + output,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        },
    )


async def _no_sleep(_: float) -> None:
    return None


def reranker(http: httpx.AsyncClient) -> LLMReranker:
    client = ProviderClient(Keys(env={"OPENAI_API_KEY": "sk-bench-usage-0123456789"}), http=http, sleep=_no_sleep)
    return LLMReranker(chat_fn_for(client, "openai/gpt-4o-mini"), model_id="openai/gpt-4o-mini")


def expected_cost(prompt: int, cached: int, output: int) -> float:
    return ((prompt - cached) * MINI.input + cached * MINI.cached_input + output * MINI.output) / 1e6


@pytest.mark.anyio
@respx.mock
async def test_a_rerank_call_is_costed_from_its_reported_usage_at_catalog_prices():
    grades = json.dumps({"grades": [{"id": 1, "grade": 3}, {"id": 2, "grade": 0}]})
    respx.post(OPENAI_CHAT).mock(return_value=completion(grades, prompt=1000, cached=400, output=30))
    async with httpx.AsyncClient() as http:
        helper = reranker(http)
        usage = instrument(helper, catalog_price("openai/gpt-4o-mini"))
        assert await helper.grade("q", ["first passage", "second passage"]) == [1.0, 0.0]
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (1, 1000, 30)
    # cached input at the cheaper cached price, output at the output price: not all tokens at the input price
    assert usage.cost_usd() == pytest.approx(expected_cost(1000, 400, 30))
    assert usage.cost_usd() != pytest.approx(1030 * MINI.input / 1e6)


@pytest.mark.anyio
@respx.mock
async def test_a_schema_repair_counts_two_requests_and_both_are_paid():
    bad = '{"grades": [{"id": 1, "grade": 7}]}'
    good = json.dumps({"grades": [{"id": 1, "grade": 2}]})
    respx.post(OPENAI_CHAT).mock(
        side_effect=[
            completion(bad, prompt=500, cached=0, output=10),
            completion(good, prompt=560, cached=0, output=10),
        ]
    )
    async with httpx.AsyncClient() as http:
        helper = reranker(http)
        usage = instrument(helper)
        await helper.grade("q", ["only passage"])
    assert usage.calls == 2 and usage.tokens == 1080
    assert usage.cost_usd() == pytest.approx(expected_cost(500, 0, 10) + expected_cost(560, 0, 10))


@pytest.mark.anyio
async def test_calls_without_a_reported_cost_use_the_catalog_price_or_stay_unknown():
    answer = json.dumps({"variants": ["a b c", "d e f"], "hypothetical_answer": "x" * 40})

    async def local_model(messages, *, json_output, timeout, response_format=None):
        return ChatResult(text=answer, provider="custom", model="m")  # no usage, no cost reported

    priced = QueryExpander(local_model, "gpt-4o-mini")
    usage = instrument(priced, catalog_price("gpt-4o-mini"))
    await priced.expand("query words")
    assert usage.calls == 1 and usage.input_tokens > 0 and usage.output_tokens == len(answer) // 4 + 1
    assert usage.cost_usd() == pytest.approx(
        (usage.input_tokens * MINI.input + usage.output_tokens * MINI.output) / 1e6
    )

    unpriced = QueryExpander(local_model, "my-own-model")
    usage = instrument(unpriced, catalog_price("my-own-model"))
    await unpriced.expand("query words")
    assert usage.calls == 1 and usage.tokens > 0 and usage.cost_usd() is None
