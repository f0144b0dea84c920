"""A fresher catalog: what a provider's model list reports joins the catalog (and the store); unknown models
still work and say so."""

from __future__ import annotations

import httpx
import pytest
import respx

from providers import Keys, Message, ProviderClient, SecretStore
from providers.catalog import Catalog, Price, info_from_dict, info_from_listing, info_to_dict

OPENROUTER = "https://openrouter.ai/api/v1"
LISTING = {
    "data": [
        {
            "id": "acme/brainy-2",
            "name": "Acme Brainy 2",
            "context_length": 262144,
            "pricing": {"prompt": "0.000002", "completion": "0.000008", "input_cache_read": "0.0000005"},
            "supported_parameters": ["tools", "reasoning", "response_format"],
        },
        {
            "id": "acme/tiny",
            "context_length": 8192,
            "pricing": {"prompt": "0", "completion": "0"},
            "supported_parameters": ["tools"],
        },
    ]
}


def answer(model):
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
    }


def test_a_listing_row_becomes_a_catalog_entry_and_survives_the_store(tmp_path):
    info = info_from_listing("openrouter", LISTING["data"][0])
    assert (info.id, info.context_window, info.supports_thinking) == ("acme/brainy-2", 262144, True)
    assert info.price == Price(2.0, 8.0, 0.5, None)
    with SecretStore(tmp_path / "s.db") as store:  # no encryption key needed: nothing secret
        store.save_catalog("openrouter", [info_to_dict(info)], refreshed_at=1_800_000_000.0)
        [(saved, when)] = store.stored_catalog()
    assert info_from_dict(saved) == info and when == 1_800_000_000.0


def test_a_listing_fills_only_what_the_hand_checked_table_leaves_open():
    catalog = Catalog(
        refreshed=[
            info_from_listing("openai", {"id": "gpt-4o", "context_window": 1, "thinking": True}),
            info_from_listing("openai", {"id": "gpt-9", "context_window": 500_000}),
        ]
    )
    assert catalog.supports_thinking("openai", "gpt-4o") is False
    assert catalog.context_window("openai", "gpt-4o") == 128_000
    assert catalog.knows("openai", "gpt-9") and catalog.context_window("openai", "gpt-9") == 500_000


@pytest.mark.anyio
@respx.mock
async def test_refresh_then_chat_knows_the_new_models_price_and_unknown_models_are_noted():
    respx.get(f"{OPENROUTER}/models").respond(200, json=LISTING)
    respx.post(f"{OPENROUTER}/chat/completions").mock(side_effect=lambda request: httpx.Response(200, json=answer("m")))
    client = ProviderClient(
        Keys(None, {"OPENROUTER_API_KEY": "sk-or-fake-0000", "OPENAI_API_KEY": "sk-o-0000"}), http=httpx.AsyncClient()
    )
    infos = await client.refresh_catalog("openrouter")
    assert [i.id for i in infos] == ["acme/brainy-2", "acme/tiny"]
    known = await client.chat("openrouter/acme/brainy-2", [Message("user", "hi")])
    assert known.metadata["cost_usd"] == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)
    assert "catalog_note" not in known.metadata
    respx.post("https://api.openai.com/v1/chat/completions").respond(200, json=answer("gpt-7-preview"))
    unknown = await client.chat("openai/gpt-7-preview", [Message("user", "hi")])
    assert unknown.text == "ok" and "not in the model catalog" in unknown.metadata["catalog_note"]
