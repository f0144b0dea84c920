"""Query expansion: parsing, caching, degradation, and fusing the expanded lists."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers import Keys, ProviderClient
from providers.errors import RateLimited
from providers.types import Message
from qmdr.search.expand import MAX_VARIANT_CHARS, QueryExpander, fuse_expanded, parse_expansion
from qmdr.search.llm_call import JsonAnswerError, chat_fn_for
from tests.qmdr.search.scripted_chat import ScriptedChat


class FakeExpander(ScriptedChat):
    """A chat model that answers with a scripted text, or fails, recording every call."""

    model = "expander"

    def __init__(self, answer: str = "", *, delay: float = 0.0, error: Exception | None = None):
        super().__init__(delay=delay, error=error)
        self.answer = answer

    def answer_to(self, messages: list[Message]) -> str:
        return self.answer


ANSWER = "To rotate the key, create a new one in the dashboard, deploy it, then revoke the old."
GOOD = json.dumps(
    {
        "variants": ["How do I rotate an API key?", "  changing  credentials  for the API ", "api key rotation"],
        "hypothetical_answer": ANSWER,
    }
)


def test_parse_expansion_cleans_dedupes_and_cuts_to_n_variants():
    phrasings, hypothetical = parse_expansion(GOOD, "API key rotation", 2)
    # the third variant repeats the query (ignoring case) and is dropped; whitespace is normalised
    assert phrasings == ("How do I rotate an API key?", "changing credentials for the API")
    assert hypothetical.startswith("To rotate the key")
    long = json.dumps({"variants": ["x" * 500]})
    (cut,), none = parse_expansion(long, "q", 2)
    assert len(cut) == MAX_VARIANT_CHARS and none is None


@pytest.mark.parametrize(
    "answer",
    [
        "no json here",
        '{"variants": "one string"}',
        '{"hypothetical_answer": "only"}',
        '{"variants": ["q"], "hypothetical_answer": ""}',
    ],
)
def test_parse_expansion_rejects_unusable_answers(answer):
    with pytest.raises(JsonAnswerError):
        parse_expansion(answer, "q", 2)


@pytest.mark.anyio
async def test_expand_returns_phrasings_then_the_hypothetical_answer_and_caches_them():
    chat = FakeExpander(GOOD)
    expander = QueryExpander(chat, "openrouter/openai/gpt-4o-mini", n_variants=2)
    queries = await expander.expand("API key rotation")
    assert queries == ["How do I rotate an API key?", "changing credentials for the API", ANSWER]
    assert chat.json_flags == [True]
    system, user = chat.calls[0]
    assert "2 alternative phrasings" in system.content and user.content == "Query: API key rotation"

    again = await expander.expand_detailed("API key rotation")
    assert again.cached and again.queries == queries and len(chat.calls) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("chat", "expected"),
    [
        (FakeExpander("I can't do that"), "unusable answer"),
        (FakeExpander(error=RateLimited("openrouter rate limit (429)", retry_after=3)), "rate limit (429)"),
        (FakeExpander(GOOD, delay=30), "did not answer within 0.05s"),
        (FakeExpander(error=RuntimeError("boom")), "unexpected RuntimeError"),
    ],
)
async def test_expand_degrades_to_nothing_with_a_warning_and_no_retry(chat, expected):
    expander = QueryExpander(chat, "m", time_budget_s=0.05)
    detailed = await expander.expand_detailed("q")
    assert detailed.queries == [] and expected in detailed.warnings[0]
    assert await expander.expand("q") == []  # failures are not cached: it asks again
    assert len(chat.calls) == 2


@pytest.mark.anyio
async def test_expand_skips_blank_queries_without_a_call():
    chat = FakeExpander(GOOD)
    assert await QueryExpander(chat, "m").expand("   ") == []
    assert chat.calls == []


def test_expander_refuses_unbounded_variants():
    with pytest.raises(ValueError):
        QueryExpander(FakeExpander(), "m", n_variants=0)
    with pytest.raises(ValueError):
        QueryExpander(FakeExpander(), "m", n_variants=100)


def test_fuse_expanded_weights_the_original_query_above_each_expansion():
    original = ["a", "b", "c"]
    expansions = [["c", "d"], ["c", "b"]]
    fused = fuse_expanded(original, expansions, k=60)
    keys = [key for key, _ in fused]
    # c: 2/63 + 1/61 + 1/61 beats a: 2/61; b: 2/62 + 1/62 beats a too; d only from one expansion
    assert keys == ["c", "b", "a", "d"]
    assert dict(fused)["a"] == pytest.approx(2 / 61)
    equal = [key for key, _ in fuse_expanded(original, expansions, original_weight=1.0)]
    assert equal.index("c") == 0 and equal.index("a") > equal.index("b")


# --- structured output through the provider layer, OpenAI chat-completions shapes at the HTTP boundary --------

OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
OPENAI_KEY = "sk-test-expand-0123456789"


def openai_answer(content: str) -> httpx.Response:
    """A chat completion as OpenAI's API reference documents it."""
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
                    "logprobs": None,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                }
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 60, "total_tokens": 180},
        },
    )


async def _no_sleep(_: float) -> None:
    return None


def openai_expander(http: httpx.AsyncClient) -> QueryExpander:
    client = ProviderClient(Keys(env={"OPENAI_API_KEY": OPENAI_KEY}), http=http, sleep=_no_sleep)
    return QueryExpander(chat_fn_for(client, "openai/gpt-4o-mini"), "openai/gpt-4o-mini", n_variants=2)


@pytest.mark.anyio
@respx.mock
async def test_expansion_asks_for_a_json_schema_and_uses_the_validated_answer():
    route = respx.post(OPENAI_CHAT).mock(return_value=openai_answer(GOOD))
    async with httpx.AsyncClient() as http:
        detailed = await openai_expander(http).expand_detailed("API key rotation")
    assert route.call_count == 1
    body = json.loads(route.calls[0].request.content)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "query_expansion",
            "strict": True,
            "schema": {
                "type": "object",
                "required": ["variants", "hypothetical_answer"],
                "additionalProperties": False,
                "properties": {
                    "variants": {"type": "array", "items": {"type": "string"}},
                    "hypothetical_answer": {"type": "string"},
                },
            },
        },
    }
    assert detailed.queries == ["How do I rotate an API key?", "changing credentials for the API", ANSWER]
    assert detailed.warnings == ()


@pytest.mark.anyio
@respx.mock
async def test_expansion_falls_back_to_free_text_when_json_schema_is_refused():
    refused = httpx.Response(
        400,
        json={
            "error": {
                "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",  # noqa: E501
                "type": "invalid_request_error",
                "param": "response_format",
                "code": None,
            }
        },
    )
    route = respx.post(OPENAI_CHAT).mock(side_effect=[refused, openai_answer(f"Sure! {GOOD}"), openai_answer(GOOD)])
    async with httpx.AsyncClient() as http:
        expander = openai_expander(http)
        first = await expander.expand_detailed("API key rotation")
        second = await expander.expand_detailed("rotating secrets")
    formats = [json.loads(c.request.content)["response_format"]["type"] for c in route.calls]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert first.queries[0] == "How do I rotate an API key?"  # the lenient free-text parser read it
    assert len(first.warnings) == 1 and "free text" in first.warnings[0]
    assert second.queries and second.warnings == ()


@pytest.mark.anyio
@respx.mock
async def test_an_expansion_off_the_schema_is_repaired_once_then_skipped_with_a_warning():
    route = respx.post(OPENAI_CHAT).mock(return_value=openai_answer('{"variants": "one string"}'))
    async with httpx.AsyncClient() as http:
        detailed = await openai_expander(http).expand_detailed("API key rotation")
    assert route.call_count == 2  # the provider layer's one repair request, no retry of our own
    assert detailed.queries == []
    assert detailed.warnings[0].startswith("query expansion skipped:") and "schema" in detailed.warnings[0]
    assert OPENAI_KEY not in detailed.warnings[0]


@pytest.mark.anyio
@respx.mock
async def test_a_server_that_ignores_the_schema_but_answers_in_prose_is_still_read():
    route = respx.post(OPENAI_CHAT).mock(return_value=openai_answer(f"Sure! Here you go: {GOOD}"))
    async with httpx.AsyncClient() as http:
        detailed = await openai_expander(http).expand_detailed("API key rotation")
    assert route.call_count == 2  # the provider layer's one repair request
    assert detailed.queries[0] == "How do I rotate an API key?"
    assert any("ignored the JSON schema" in w for w in detailed.warnings)
