"""Query expansion: parsing, caching, degradation, and fusing the expanded lists."""

from __future__ import annotations

import asyncio
import json

import pytest

from providers.errors import RateLimited
from providers.types import ChatResult, Message
from qmdr.search.expand import MAX_VARIANT_CHARS, QueryExpander, fuse_expanded, parse_expansion
from qmdr.search.llm_call import JsonAnswerError


class FakeExpander:
    """A chat model that answers with a scripted text, or fails, recording every call."""

    def __init__(self, answer: str = "", *, delay: float = 0.0, error: Exception | None = None):
        self.answer = answer
        self.delay = delay
        self.error = error
        self.calls: list[list[Message]] = []
        self.json_flags: list[bool] = []

    async def __call__(self, messages: list[Message], *, json_output: bool,
                       timeout: float | None) -> ChatResult:
        self.calls.append(list(messages))
        self.json_flags.append(json_output)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return ChatResult(text=self.answer, provider="fake", model="expander")


ANSWER = "To rotate the key, create a new one in the dashboard, deploy it, then revoke the old."
GOOD = json.dumps({
    "variants": ["How do I rotate an API key?", "  changing  credentials  for the API ", "api key rotation"],
    "hypothetical_answer": ANSWER,
})


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
    ["no json here", '{"variants": "one string"}', '{"hypothetical_answer": "only"}',
     '{"variants": ["q"], "hypothetical_answer": ""}'],
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
