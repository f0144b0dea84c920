"""Count model calls and tokens, and price them, for the provider matrix.

Embedding is counted at our own seam (``Embedder.embed``), not on the wire: a
provider client may split one ``embed`` call into several HTTP requests, so
"calls" means calls qmdr made. Rerank and expansion are counted at their chat
function (one call = one model request, retries included), or per ``grade`` for
a dedicated rerank API. Tokens are the provider's reported usage when there is
one, else estimated from characters (about 4 per token for English text with
OpenAI-style BPE tokenizers). Costs multiply tokens by approximate list
*input* prices (output tokens of a rerank or expansion are billed higher by
vendors but are a few per passage), so they are good for comparing settings,
not for invoicing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Rule of thumb for English text with OpenAI-style BPE tokenizers.
CHARS_PER_TOKEN = 4

# Approximate list prices in US dollars per million *input* tokens, as published
# by each vendor in 2025. Update when vendors change them; a model missing here
# is reported with cost "n/a" rather than guessed. Local models cost nothing.
PRICE_PER_MILLION_INPUT_TOKENS: dict[str, float] = {
    "local": 0.0,
    "all-minilm-l6-v2": 0.0,
    "bench-hashing": 0.0,
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
    "gemini-embedding-001": 0.15,
    "embed-english-v3.0": 0.10,
    "voyage-3": 0.06,
    "voyage-3-lite": 0.02,
    "gpt-4o-mini": 0.15,
    "gpt-4.1-mini": 0.40,
    "gpt-4.1-nano": 0.10,
    "claude-3-5-haiku": 0.80,
    "claude-haiku-4-5": 1.00,
    "gemini-2.0-flash": 0.10,
}


def estimate_tokens(text: str) -> int:
    """Approximate token count of ``text`` (at least 1 for non-empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def price_per_million(model: str | None) -> float | None:
    """Look a model up by its bare name (``openai/text-embedding-3-small`` -> ``text-embedding-3-small``)."""
    if not model:
        return None
    bare = model.rsplit("/", 1)[-1].lower()
    for name, price in PRICE_PER_MILLION_INPUT_TOKENS.items():
        if bare == name or bare.startswith(name):
            return price
    return None


@dataclass(slots=True)
class Usage:
    """Calls and estimated input tokens of one model role."""

    calls: int = 0
    items: int = 0  # texts embedded, passages graded, queries expanded
    tokens: int = 0

    def add(self, texts: Sequence[str]) -> None:
        self.calls += 1
        self.items += len(texts)
        self.tokens += sum(estimate_tokens(t) for t in texts)

    def cost_usd(self, model: str | None) -> float | None:
        price = price_per_million(model)
        return None if price is None else self.tokens * price / 1_000_000

    def snapshot(self) -> Usage:
        return Usage(self.calls, self.items, self.tokens)

    def since(self, before: Usage) -> Usage:
        return Usage(self.calls - before.calls, self.items - before.items, self.tokens - before.tokens)


class CountingEmbedder:
    """An Embedder that forwards to another and counts what it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id: str = inner.model_id
        self.usage = Usage()

    @property
    def dim(self) -> int:
        """The inner embedder's size, read when asked: a remote model learns it on its first call."""
        return self.inner.dim

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.usage.add(texts)
        return await self.inner.embed(texts)

    def __getattr__(self, name: str) -> Any:  # e.g. a provider's aclose()
        return getattr(self.inner, name)


class CountingChat:
    """Wraps a ChatFn (``qmdr.search.llm_call.ChatFn``) and counts its calls and tokens.

    Tokens come from the provider's reported usage when it gives one, else
    they are estimated from the message text (input) and the answer (output).
    """

    def __init__(self, chat: Any, usage: Usage) -> None:
        self._chat = chat
        self.usage = usage

    async def __call__(self, messages: list[Any], **kwargs: Any) -> Any:
        self.usage.calls += 1
        self.usage.items += 1
        result = await self._chat(messages, **kwargs)
        reported = getattr(result, "usage", None)
        input_tokens = getattr(reported, "input_tokens", 0) or sum(
            estimate_tokens(getattr(m, "content", "")) for m in messages)
        output_tokens = getattr(reported, "output_tokens", 0) or estimate_tokens(getattr(result, "text", ""))
        self.usage.tokens += input_tokens + output_tokens
        return result


def instrument(helper: Any) -> Usage:
    """Count the model calls of a reranker or query expander; returns the live Usage.

    Chat-based helpers (``LLMReranker``, ``QueryExpander``) keep their ChatFn in
    ``_chat``: it is wrapped on this instance only, so every call is counted
    however the helper batches, retries or caches. Other helpers (an API
    reranker) are counted per ``grade`` call with tokens estimated from the
    passages sent.
    """
    usage = Usage()
    if callable(getattr(helper, "_chat", None)):
        helper._chat = CountingChat(helper._chat, usage)
        return usage
    grade = getattr(helper, "grade", None)
    if grade is not None:
        async def counted_grade(query: str, passages: Sequence[str]) -> list[float]:
            usage.add([query, *passages])
            return await grade(query, passages)

        helper.grade = counted_grade
    return usage
