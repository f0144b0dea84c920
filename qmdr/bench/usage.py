"""Count model calls and tokens, and price them, for the provider matrix.

Embedding is counted at our own seam (``Embedder.embed``), not on the wire: a
provider client may split one ``embed`` call into several HTTP requests, so
"calls" means calls qmdr made. Rerank and expansion are counted at their chat
function (one call = one model request; a structured-output repair request
counts as a second), or per ``grade`` for a dedicated rerank API. Tokens are
the provider's reported usage when there is one, else estimated from
characters (about 4 per token for English text with OpenAI-style BPE
tokenizers); embeddings are always estimated, since the seam returns vectors only.

Prices come from one place, the providers catalog (``providers.catalog``):
a chat call's cost is the ``cost_usd`` the provider layer reports in its
metadata (the catalog's input, cached-input and output prices applied to the
call's reported usage); any other call is priced here with the same
catalog price (``catalog_price``). A model the catalog has no price for makes
the cost "n/a" rather than a guess; models run on this machine cost nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from providers.catalog import KNOWN_MODELS, Price
from providers.types import Usage as CallUsage

# Rule of thumb for English text with OpenAI-style BPE tokenizers.
CHARS_PER_TOKEN = 4

#: model names that run on this machine (the embedded model, the bench's hashing embedder): free
LOCAL_MODELS = frozenset({"local", "all-minilm-l6-v2", "bench-hashing"})
FREE = Price(0.0, 0.0)


def estimate_tokens(text: str) -> int:
    """Approximate token count of ``text`` (at least 1 for non-empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def catalog_price(model: str | None) -> Price | None:
    """The providers catalog's price for a model as the matrix names it; None when it has none.

    ``provider/model`` (``openai/text-embedding-3-small``, also an OpenRouter
    id such as ``openai/gpt-4o-mini``) is looked up under that provider; a bare
    id or alias (``gpt-4o-mini``) under any provider that prices it.
    """
    if not model:
        return None
    local = model.rsplit("/", 1)[-1].lower()
    if any(local.startswith(name) for name in LOCAL_MODELS):  # e.g. bench-hashing-256
        return FREE
    provider, _, bare = model.partition("/") if "/" in model else ("", "", model)
    for info in KNOWN_MODELS:
        if info.price is not None and (provider in ("", info.provider)) and bare in (info.id, *info.aliases):
            return info.price
    return None


@dataclass(slots=True)
class Usage:
    """Calls, tokens and cost of one model role (an embedder, a reranker, an expander).

    ``price`` is the catalog's price of the role's model, used for calls the
    provider layer did not price itself; ``unpriced_calls`` counts calls that
    neither priced, and makes ``cost_usd()`` None.
    """

    calls: int = 0
    items: int = 0  # texts embedded, passages graded, queries expanded
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0
    price: Price | None = None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, texts: Sequence[str]) -> None:
        """One call sending ``texts`` (input only, estimated), e.g. an embedding batch."""
        self.record(CallUsage(input_tokens=sum(estimate_tokens(t) for t in texts)), items=len(texts))

    def record(self, usage: CallUsage, *, items: int = 1, calls: int = 1, reported_cost: float | None = None) -> None:
        """``calls`` model requests that used ``usage``, priced by the provider layer when it did."""
        self.calls += calls
        self.items += items
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        cost = (
            reported_cost if reported_cost is not None else (self.price.cost(usage) if self.price is not None else None)
        )
        if cost is None:
            self.unpriced_calls += calls
        else:
            self.cost += cost

    def cost_usd(self) -> float | None:
        """USD of every call so far; None when any call's price is unknown."""
        return None if self.unpriced_calls else self.cost

    def snapshot(self) -> Usage:
        return dataclasses.replace(self)

    def since(self, before: Usage) -> Usage:
        return Usage(
            self.calls - before.calls,
            self.items - before.items,
            self.input_tokens - before.input_tokens,
            self.output_tokens - before.output_tokens,
            self.cost - before.cost,
            self.unpriced_calls - before.unpriced_calls,
            self.price,
        )


class CountingEmbedder:
    """An Embedder that forwards to another and counts what it is asked to embed."""

    def __init__(self, inner: Any, price: Price | None = None) -> None:
        self.inner = inner
        self.model_id: str = inner.model_id
        self.usage = Usage(price=price)

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
    """Wraps a ChatFn (``qmdr.search.llm_call.ChatFn``) and counts its calls, tokens and cost.

    Tokens come from the provider's reported usage when it gives one, else
    they are estimated from the message text (input) and the answer (output);
    the cost is the provider layer's ``cost_usd`` when it reports one. A
    failed call is counted, but adds no tokens: nothing says what it used.
    """

    def __init__(self, chat: Any, usage: Usage) -> None:
        self._chat = chat
        self.usage = usage

    async def __call__(self, messages: list[Any], **kwargs: Any) -> Any:
        try:
            result = await self._chat(messages, **kwargs)
        except BaseException:
            self.usage.calls += 1
            self.usage.items += 1
            raise
        reported = getattr(result, "usage", None) or CallUsage()
        if not (reported.input_tokens or reported.output_tokens):
            reported = CallUsage(
                input_tokens=sum(estimate_tokens(getattr(m, "content", "") or "") for m in messages),
                output_tokens=estimate_tokens(getattr(result, "text", "") or ""),
            )
        metadata = getattr(result, "metadata", None) or {}
        cost = metadata.get("cost_usd")
        self.usage.record(
            reported,
            calls=1 + ("schema_repair" in metadata),
            reported_cost=float(cost) if isinstance(cost, int | float) else None,
        )
        return result


def instrument(helper: Any, price: Price | None = None) -> Usage:
    """Count the model calls of a reranker or query expander; returns the live Usage.

    Chat-based helpers (``LLMReranker``, ``QueryExpander``) keep their ChatFn in
    ``_chat``: it is wrapped on this instance only, so every call is counted
    however the helper batches, retries or caches. Other helpers (an API
    reranker) are counted per ``grade`` call with tokens estimated from the
    passages sent. ``price`` prices calls the provider layer did not.
    """
    usage = Usage(price=price)
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
