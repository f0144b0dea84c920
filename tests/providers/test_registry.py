"""The provider table and the lazy wire-format lookup."""

from __future__ import annotations

import pytest

from providers import wire
from providers.errors import UnknownProvider
from providers.registry import PROVIDERS, custom_spec, get_spec, validate_slug
from providers.wire.openai_compat import ADAPTER, OPENROUTER_ADAPTER

EXPECTED = {
    "openrouter": ("OPENROUTER_API_KEY", "https://openrouter.ai/api/v1"),
    "openai": ("OPENAI_API_KEY", "https://api.openai.com/v1"),
    "xai": ("XAI_API_KEY", "https://api.x.ai/v1"),
    "groq": ("GROQ_API_KEY", "https://api.groq.com/openai/v1"),
    "mistral": ("MISTRAL_API_KEY", "https://api.mistral.ai/v1"),
    "cerebras": ("CEREBRAS_API_KEY", "https://api.cerebras.ai/v1"),
    "huggingface": ("HF_TOKEN", "https://router.huggingface.co/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "https://api.anthropic.com"),
    "google": ("GEMINI_API_KEY", "https://generativelanguage.googleapis.com"),
    "azure": ("AZURE_OPENAI_API_KEY", None),
}


@pytest.mark.parametrize(("provider", "expected"), EXPECTED.items())
def test_documented_env_vars_and_base_urls(provider, expected):
    spec = get_spec(provider)
    assert (spec.key_env_var, spec.default_base_url) == expected


def test_every_wire_format_of_the_table_is_registered():
    assert {spec.wire for spec in PROVIDERS.values()} <= set(wire.WIRE_FORMATS)


def test_openai_compatible_providers_share_the_generic_adapter():
    for provider in ("openai", "xai", "groq", "cerebras"):
        assert wire.get_adapter(get_spec(provider).wire) is ADAPTER
    assert wire.get_adapter("openrouter") is OPENROUTER_ADAPTER


def test_missing_vendor_module_falls_back_or_fails_alone(monkeypatch):
    monkeypatch.setitem(wire.WIRE_FORMATS, "ghost", (("providers.wire.ghost_vendor", "ADAPTER"),))
    monkeypatch.setitem(
        wire.WIRE_FORMATS,
        "ghost-compat",
        (("providers.wire.ghost_vendor", "ADAPTER"), ("providers.wire.openai_compat", "ADAPTER")),
    )
    with pytest.raises(wire.WireFormatUnavailable, match="ghost_vendor is not available"):
        wire.get_adapter("ghost")
    assert wire.get_adapter("ghost-compat") is ADAPTER
    assert wire.get_adapter("openai") is ADAPTER  # the others are unaffected


def test_custom_spec_and_slug_validation():
    spec = custom_spec("my-ollama", "http://localhost:11434/v1/")
    assert spec.id == "custom-my-ollama" and spec.wire == "openai"
    assert spec.default_base_url == "http://localhost:11434/v1"
    assert spec.auth == "optional_key"
    for bad in ("My", "-x", "a_b", "", "a" * 41):
        with pytest.raises(UnknownProvider):
            validate_slug(bad)


def test_unknown_provider_names_the_known_ones():
    with pytest.raises(UnknownProvider, match="openrouter"):
        get_spec("nope")


def test_public_api_is_exported():
    import providers

    missing = [name for name in providers.__all__ if not hasattr(providers, name)]
    assert missing == []
    for name in (
        "ProviderClient",
        "Keys",
        "SecretStore",
        "parse_model_string",
        "resolve_agent",
        "Cooldowns",
        "ConfigError",
        "KeyInfo",
        "Catalog",
    ):
        assert name in providers.__all__
