"""What we know about models: canonical ids, aliases, context window, embedding size, thinking.

The table is a convenience, never a gate: an id we do not know passes through
unchanged and is sent to the provider as written. Aliases let config say
``anthropic/claude-sonnet-4`` while the API wants ``claude-sonnet-4-0``.

OpenRouter lists hundreds of models that change weekly, so its thinking
support is read from its ``/models`` listing (a model thinks when its
``supported_parameters`` include ``reasoning`` or ``include_reasoning``) and
cached for ``OPENROUTER_LISTING_TTL_SECONDS``; the clock is injectable so tests
can move time.

Some reasoning models accept only some effort levels (``effort_levels``):
xAI's grok-3-mini takes ``low`` or ``high`` only, and grok-4 takes no
``reasoning_effort`` at all and answers 400 when sent one (docs.x.ai, guides ->
reasoning). ``nearest_effort`` picks the accepted level to send instead.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from providers.types import ThinkingLevel, Usage

ModelKind = Literal["chat", "embedding"]

#: OpenRouter's model list changes a few times a week; an hour keeps it fresh without a call per chat
OPENROUTER_LISTING_TTL_SECONDS = 3600.0
#: parameters in OpenRouter's supported_parameters that mean the model can reason
OPENROUTER_THINKING_PARAMETERS = frozenset({"reasoning", "include_reasoning"})
#: effort levels from least to most thinking, the scale ``nearest_effort`` measures distance on
EFFORT_ORDER: tuple[ThinkingLevel, ...] = ("low", "medium", "high")


#: when the prices below were last checked against the providers' price pages (USD, standard tier)
PRICES_CHECKED = "2026-11"
#: prices are per this many tokens, as every provider's price page gives them
PRICE_UNIT_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens: input, output, and cache reads / writes where the provider prices them apart."""

    input: float
    output: float
    cached_input: float | None = None  # None: cache reads cost the input price
    cache_write: float | None = None  # None: cache writes cost the input price

    def cost(self, usage: Usage) -> float:
        """USD for ``usage``: cached and cache-written input at their own prices, the rest at the input price."""
        fresh = max(0, usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens)
        cached = self.input if self.cached_input is None else self.cached_input
        write = self.input if self.cache_write is None else self.cache_write
        total = (
            fresh * self.input
            + usage.cached_input_tokens * cached
            + usage.cache_write_tokens * write
            + usage.output_tokens * self.output
        )
        return total / PRICE_UNIT_TOKENS


@dataclass(frozen=True, slots=True)
class ModelInfo:
    provider: str
    id: str  # the id the provider's API expects
    kind: ModelKind = "chat"
    aliases: tuple[str, ...] = ()
    context_window: int | None = None
    embedding_dim: int | None = None
    supports_thinking: bool = False
    #: effort levels the model accepts; None: every level its wire format knows; (): it reasons at its
    #: own effort and refuses any effort setting
    effort_levels: tuple[ThinkingLevel, ...] | None = None
    price: Price | None = None


def _chat(
    provider: str,
    model_id: str,
    context: int,
    thinking: bool,
    *aliases: str,
    efforts: tuple[ThinkingLevel, ...] | None = None,
    price: Price | None = None,
) -> ModelInfo:
    return ModelInfo(provider, model_id, "chat", aliases, context, None, thinking, efforts, price)


def _embed(
    provider: str,
    model_id: str,
    dim: int,
    context: int,
    *aliases: str,
    price: Price | None = None,
) -> ModelInfo:
    return ModelInfo(provider, model_id, "embedding", aliases, context, dim, False, price=price)


# List prices (USD per million tokens; cache reads, and Anthropic's 5-minute cache writes, apart)
_OPUS_4 = Price(15.0, 75.0, 1.5, 18.75)
_SONNET = Price(3.0, 15.0, 0.3, 3.75)
_HAIKU_45 = Price(1.0, 5.0, 0.1, 1.25)
_HAIKU_35 = Price(0.8, 4.0, 0.08, 1.0)


#: known models; context windows and dimensions from each provider's model pages
KNOWN_MODELS: tuple[ModelInfo, ...] = (
    # Anthropic: the "-0" ids are Anthropic's own aliases of the dated snapshots
    _chat("anthropic", "claude-opus-4-0", 200_000, True, "claude-opus-4", "claude-4-opus", price=_OPUS_4),
    _chat("anthropic", "claude-opus-4-1", 200_000, True, "claude-opus-4.1", price=_OPUS_4),
    _chat("anthropic", "claude-sonnet-4-0", 200_000, True, "claude-sonnet-4", "claude-4-sonnet", price=_SONNET),
    _chat("anthropic", "claude-sonnet-4-5", 200_000, True, "claude-sonnet-4.5", price=_SONNET),
    _chat("anthropic", "claude-haiku-4-5", 200_000, True, "claude-haiku-4.5", price=_HAIKU_45),
    _chat(
        "anthropic", "claude-3-7-sonnet-latest", 200_000, True, "claude-3.7-sonnet", "claude-3-7-sonnet", price=_SONNET
    ),
    _chat(
        "anthropic", "claude-3-5-haiku-latest", 200_000, False, "claude-3.5-haiku", "claude-3-5-haiku", price=_HAIKU_35
    ),
    # OpenAI
    _chat("openai", "gpt-4o", 128_000, False, price=Price(2.5, 10.0, 1.25)),
    _chat("openai", "gpt-4o-mini", 128_000, False, price=Price(0.15, 0.6, 0.075)),
    _chat("openai", "gpt-4.1", 1_047_576, False, price=Price(2.0, 8.0, 0.5)),
    _chat("openai", "gpt-4.1-mini", 1_047_576, False, price=Price(0.4, 1.6, 0.1)),
    _chat("openai", "gpt-5", 400_000, True, price=Price(1.25, 10.0, 0.125)),
    _chat("openai", "gpt-5-mini", 400_000, True, price=Price(0.25, 2.0, 0.025)),
    _chat("openai", "gpt-5-nano", 400_000, True, price=Price(0.05, 0.4, 0.005)),
    _chat("openai", "o1", 200_000, True, price=Price(15.0, 60.0, 7.5)),
    _chat("openai", "o3", 200_000, True, price=Price(2.0, 8.0, 0.5)),
    _chat("openai", "o3-mini", 200_000, True, price=Price(1.1, 4.4, 0.55)),
    _chat("openai", "o4-mini", 200_000, True, price=Price(1.1, 4.4, 0.275)),
    _embed("openai", "text-embedding-3-small", 1536, 8191, price=Price(0.02, 0.0)),
    _embed("openai", "text-embedding-3-large", 3072, 8191, price=Price(0.13, 0.0)),
    # Google Gemini
    _chat("google", "gemini-2.5-pro", 1_048_576, True, price=Price(1.25, 10.0, 0.31)),  # prompts up to 200k
    _chat("google", "gemini-2.5-flash", 1_048_576, True, price=Price(0.3, 2.5, 0.075)),
    _chat("google", "gemini-2.5-flash-lite", 1_048_576, True, price=Price(0.1, 0.4, 0.025)),
    _chat("google", "gemini-2.0-flash", 1_048_576, False, price=Price(0.1, 0.4, 0.025)),
    _embed("google", "gemini-embedding-001", 3072, 2048),
    _embed("google", "text-embedding-004", 768, 2048),
    # xAI: grok-4 reasons but refuses reasoning_effort; grok-3-mini takes only low/high (docs.x.ai reasoning)
    _chat("xai", "grok-4", 256_000, True, efforts=()),
    _chat("xai", "grok-3", 131_072, False),
    _chat("xai", "grok-3-mini", 131_072, True, efforts=("low", "high")),
    # Groq
    _chat("groq", "llama-3.3-70b-versatile", 131_072, False),
    _chat("groq", "llama-3.1-8b-instant", 131_072, False),
    _chat("groq", "openai/gpt-oss-120b", 131_072, True),
    _chat("groq", "openai/gpt-oss-20b", 131_072, True),
    # Cerebras
    _chat("cerebras", "llama-3.3-70b", 65_536, False),
    _chat("cerebras", "llama3.1-8b", 8_192, False),
    _chat("cerebras", "gpt-oss-120b", 65_536, True),
    # Mistral
    _chat("mistral", "mistral-large-latest", 131_072, False),
    _chat("mistral", "mistral-small-latest", 131_072, False),
    _chat("mistral", "magistral-medium-latest", 40_000, True),
    _embed("mistral", "mistral-embed", 1024, 8192),
    # Vertex (Gemini ids) and Bedrock (Anthropic ids)
    _chat("vertex", "gemini-2.5-pro", 1_048_576, True),
    _chat("vertex", "gemini-2.5-flash", 1_048_576, True),
    _embed("vertex", "text-embedding-005", 768, 2048),
    _chat("bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", 200_000, True, "claude-sonnet-4", price=_SONNET),
    _chat("bedrock", "anthropic.claude-3-7-sonnet-20250219-v1:0", 200_000, True, "claude-3-7-sonnet"),
    # Claude 3.5 on Bedrock has no extended thinking (AWS: extended thinking from Claude 3.7 Sonnet on)
    _chat("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", 200_000, False, "claude-3-5-sonnet"),
    _chat("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", 200_000, False),
    _chat("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", 200_000, False, "claude-3-5-haiku"),
    _embed("bedrock", "amazon.titan-embed-text-v2:0", 1024, 8192, "titan-embed-text-v2"),
)


def claude_can_think(model: str) -> bool | None:
    """Whether a Claude model id (Anthropic, Bedrock or Vertex spelling) has extended thinking; None if not Claude.

    Claude 3.7 Sonnet and every later generation think; Claude 3.5 and older do not.
    """
    if "claude" not in model:
        return None
    name = model[model.index("claude") :]
    if re.match(r"claude-(?:3-7|(?:opus|sonnet|haiku)-[4-9]|[4-9])", name):
        return True
    return not re.match(r"claude-(?:instant|v?[12]|3-[0-6]-|3-(?:opus|sonnet|haiku))", name)


def nearest_effort(level: ThinkingLevel, accepted: tuple[ThinkingLevel, ...]) -> ThinkingLevel | None:
    """The accepted effort closest to ``level``; None when the model accepts none.

    A tie (``medium`` between ``low`` and ``high``) goes up: whoever asked for
    thinking is better served by more of it than less, and Mistral's adapter
    already maps its none/high models the same way.
    """
    if level not in EFFORT_ORDER:  # "off" is not an effort: the adapters decide what it means
        return level
    if not accepted:
        return None
    if level in accepted:
        return level
    rank = EFFORT_ORDER.index
    return min(accepted, key=lambda a: (abs(rank(a) - rank(level)), -rank(a)))


def openrouter_model_thinks(row: Mapping[str, Any]) -> bool:
    """Whether an OpenRouter ``/models`` row advertises reasoning."""
    params = row.get("supported_parameters") or ()
    return bool(OPENROUTER_THINKING_PARAMETERS.intersection(params))


#: listing fields that carry a model's context window, by the APIs that use them (OpenRouter, Groq,
#: Gemini as listed by its adapter, Mistral, Anthropic's newer listings)
_CONTEXT_FIELDS = ("context_length", "context_window", "input_token_limit", "max_context_length", "max_input_tokens")


def info_from_listing(provider: str, row: Mapping[str, Any]) -> ModelInfo | None:
    """What a provider's model list says about one model: id, kind, context window, thinking, price.

    Only what the row states is filled in; prices come from OpenRouter's ``pricing`` (USD per token).
    """
    model_id = row.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    context = next((int(row[f]) for f in _CONTEXT_FIELDS if isinstance(row.get(f), int | float) and row[f] > 0), None)
    kind: ModelKind = "embedding" if "embed" in model_id else "chat"
    thinks = openrouter_model_thinks(row) or bool(row.get("thinking"))
    price = None
    pricing = row.get("pricing")
    if isinstance(pricing, Mapping):
        try:
            per_token = {
                k: float(pricing[k])
                for k in ("prompt", "completion", "input_cache_read", "input_cache_write")
                if pricing.get(k) not in (None, "")
            }
        except (TypeError, ValueError):
            per_token = {}
        if "prompt" in per_token and "completion" in per_token:
            million = float(PRICE_UNIT_TOKENS)
            price = Price(
                per_token["prompt"] * million,
                per_token["completion"] * million,
                per_token["input_cache_read"] * million if "input_cache_read" in per_token else None,
                per_token["input_cache_write"] * million if "input_cache_write" in per_token else None,
            )
    return ModelInfo(provider, model_id, kind, (), context, None, thinks, None, price)


def info_to_dict(info: ModelInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def info_from_dict(data: Mapping[str, Any]) -> ModelInfo:
    price = data.get("price")
    efforts = data.get("effort_levels")
    return ModelInfo(
        provider=str(data["provider"]),
        id=str(data["id"]),
        kind=data.get("kind", "chat"),
        aliases=tuple(data.get("aliases") or ()),
        context_window=data.get("context_window"),
        embedding_dim=data.get("embedding_dim"),
        supports_thinking=bool(data.get("supports_thinking")),
        effort_levels=tuple(efforts) if efforts is not None else None,
        price=Price(**price) if isinstance(price, Mapping) else None,
    )


class Catalog:
    """Model lookups plus the cached OpenRouter capability listing. One per client, not global.

    ``refreshed`` are models a provider's own listing reported (``qmdr models
    refresh``, kept in the settings store): new ones join the catalog; for
    models the built-in table knows, a listing only fills in what the table
    leaves open (context window, price), because the table's capabilities
    (thinking, effort levels) are checked by hand.
    """

    def __init__(
        self,
        models: Iterable[ModelInfo] = KNOWN_MODELS,
        *,
        clock: Callable[[], float] = time.monotonic,
        listing_ttl: float = OPENROUTER_LISTING_TTL_SECONDS,
        refreshed: Iterable[ModelInfo] = (),
    ) -> None:
        self._by_key: dict[tuple[str, str], ModelInfo] = {}
        for info in models:
            self._by_key[(info.provider, info.id)] = info
            for alias in info.aliases:
                self._by_key.setdefault((info.provider, alias), info)
        self._clock = clock
        self._ttl = listing_ttl
        self._listings: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self.merge(refreshed)

    def merge(self, refreshed: Iterable[ModelInfo]) -> None:
        """Add models a provider listed; fill only the open fields of models the table already knows."""
        for info in refreshed:
            known = self._by_key.get((info.provider, info.id))
            if known is None:
                self._by_key[(info.provider, info.id)] = info
                continue
            filled = dataclasses.replace(
                known, context_window=known.context_window or info.context_window, price=known.price or info.price
            )
            for key, value in list(self._by_key.items()):
                if value is known:
                    self._by_key[key] = filled

    def knows(self, provider: str, model: str) -> bool:
        """Whether the catalog (table, refreshed listings or a fresh OpenRouter listing) has this model."""
        if self.info(provider, model) is not None:
            return True
        entry = self._listings.get(provider)
        return entry is not None and model in entry[1]

    def info(self, provider: str, model: str) -> ModelInfo | None:
        """The known model for an id or alias, else None (unknown ids are still usable)."""
        return self._by_key.get((provider, model))

    def resolve(self, provider: str, model: str) -> str:
        """The id to send: the canonical id for an alias, the input unchanged otherwise."""
        info = self.info(provider, model)
        return info.id if info else model

    def price(self, provider: str, model: str) -> Price | None:
        """The catalog's price of a model (None when unknown: the call works, its cost is not known)."""
        info = self.info(provider, model)
        return info.price if info else None

    def embedding_dim(self, provider: str, model: str) -> int | None:
        info = self.info(provider, model)
        return info.embedding_dim if info else None

    # -- live listings (OpenRouter) -----------------------------------------

    def listing_is_fresh(self, provider: str) -> bool:
        entry = self._listings.get(provider)
        return entry is not None and self._clock() - entry[0] < self._ttl

    def record_listing(self, provider: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Remember a provider's ``/models`` answer, stamped with the clock, for ``listing_ttl`` seconds."""
        self._listings[provider] = (self._clock(), {str(row["id"]): dict(row) for row in rows if "id" in row})

    def supports_thinking(self, provider: str, model: str) -> bool | None:
        """True/False when known (catalog or fresh listing), None when we cannot tell."""
        if provider == "openrouter":
            entry = self._listings.get(provider)
            if entry is None:
                return None
            row = entry[1].get(model)
            return openrouter_model_thinks(row) if row is not None else None
        info = self.info(provider, model)
        if info is not None:
            return info.supports_thinking
        return claude_can_think(model)  # an unlisted Claude id still says which generation it is

    def effort_levels(self, provider: str, model: str) -> tuple[ThinkingLevel, ...] | None:
        """The effort levels ``model`` accepts, None when any (or when the model is unknown)."""
        info = self.info(provider, model)
        return info.effort_levels if info else None

    def context_window(self, provider: str, model: str) -> int | None:
        info = self.info(provider, model)
        if info and info.context_window:
            return info.context_window
        entry = self._listings.get(provider)
        row = entry[1].get(model) if entry else None
        value = row.get("context_length") if row else None
        return int(value) if isinstance(value, int | float) else None
