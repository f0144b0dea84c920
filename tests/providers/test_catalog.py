"""Model catalog: aliases, pass-through, and OpenRouter's cached capability listing."""

from __future__ import annotations

import pytest

from providers.catalog import Catalog, nearest_effort


@pytest.mark.parametrize(
    ("provider", "alias", "canonical"),
    [
        ("anthropic", "claude-sonnet-4", "claude-sonnet-4-0"),
        ("anthropic", "claude-opus-4", "claude-opus-4-0"),
        ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4-0"),
        ("anthropic", "claude-3-7-sonnet", "claude-3-7-sonnet-latest"),
        ("bedrock", "claude-sonnet-4", "anthropic.claude-sonnet-4-20250514-v1:0"),
    ],
)
def test_aliases_resolve_to_the_api_id(provider, alias, canonical):
    assert Catalog().resolve(provider, alias) == canonical


def test_unknown_ids_pass_through_unchanged():
    catalog = Catalog()
    assert catalog.resolve("anthropic", "claude-next-preview") == "claude-next-preview"
    assert catalog.resolve("openai", "claude-sonnet-4") == "claude-sonnet-4"  # aliases are per provider
    assert catalog.info("openai", "gpt-99") is None
    assert catalog.supports_thinking("openai", "gpt-99") is None


def test_known_facts():
    catalog = Catalog()
    assert catalog.embedding_dim("openai", "text-embedding-3-small") == 1536
    assert catalog.embedding_dim("mistral", "mistral-embed") == 1024
    assert catalog.supports_thinking("openai", "gpt-4o") is False
    assert catalog.supports_thinking("anthropic", "claude-sonnet-4") is True
    assert catalog.context_window("anthropic", "claude-opus-4") == 200_000


LISTING = [
    {
        "id": "deepseek/deepseek-r1",
        "context_length": 163840,
        "supported_parameters": ["max_tokens", "reasoning", "include_reasoning"],
    },
    {
        "id": "openai/gpt-4o-mini",
        "context_length": 128000,
        "supported_parameters": ["max_tokens", "temperature"],
    },
    {"id": "x/only-include", "supported_parameters": ["include_reasoning"]},
]


def test_openrouter_thinking_comes_from_supported_parameters():
    catalog = Catalog()
    assert catalog.supports_thinking("openrouter", "deepseek/deepseek-r1") is None  # nothing listed yet
    catalog.record_listing("openrouter", LISTING)
    assert catalog.supports_thinking("openrouter", "deepseek/deepseek-r1") is True
    assert catalog.supports_thinking("openrouter", "x/only-include") is True
    assert catalog.supports_thinking("openrouter", "openai/gpt-4o-mini") is False
    assert catalog.supports_thinking("openrouter", "not/listed") is None
    assert catalog.context_window("openrouter", "deepseek/deepseek-r1") == 163840


def test_openrouter_listing_expires_after_ttl():
    now = [1000.0]
    catalog = Catalog(clock=lambda: now[0], listing_ttl=60)
    assert not catalog.listing_is_fresh("openrouter")
    catalog.record_listing("openrouter", LISTING)
    now[0] += 59
    assert catalog.listing_is_fresh("openrouter")
    now[0] += 2
    assert not catalog.listing_is_fresh("openrouter")
    assert catalog.supports_thinking("openrouter", "deepseek/deepseek-r1") is True  # stale data still answers


@pytest.mark.parametrize(
    ("level", "accepted", "expected"),
    [
        ("medium", ("low", "high"), "high"),  # a tie goes up
        ("low", ("low", "high"), "low"),
        ("high", ("low", "medium"), "medium"),
        ("low", ("high",), "high"),
        ("high", (), None),  # the model takes no effort setting at all
        ("off", ("low", "high"), "off"),  # not an effort: left to the adapter
    ],
)
def test_nearest_effort(level, accepted, expected):
    assert nearest_effort(level, accepted) == expected


def test_effort_limits_are_known_for_xai_reasoning_models():
    catalog = Catalog()
    assert catalog.effort_levels("xai", "grok-3-mini") == ("low", "high")
    assert catalog.effort_levels("xai", "grok-4") == ()
    assert catalog.effort_levels("openai", "o3") is None and catalog.effort_levels("xai", "grok-99") is None
