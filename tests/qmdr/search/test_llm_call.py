"""The search stages' chat seam passes a JSON Schema response format through to the provider layer."""

from __future__ import annotations

import httpx
import pytest
import respx

from providers import Keys, Message, ProviderClient
from qmdr.search.llm_call import chat_fn_for

SCHEMA = {
    "type": "object",
    "properties": {"queries": {"type": "array", "items": {"type": "string"}}},
    "required": ["queries"],
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "expansion", "schema": SCHEMA, "strict": True}}


@pytest.mark.anyio
@respx.mock
async def test_chat_fn_sends_the_schema_and_returns_the_parsed_answer():
    route = respx.post("https://api.openai.com/v1/chat/completions").respond(
        200,
        json={
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": '{"queries": ["retry policy", "backoff"]}'},
                }
            ],
        },
    )
    client = ProviderClient(Keys(None, {"OPENAI_API_KEY": "sk-fake-openai-0000"}), http=httpx.AsyncClient())
    chat = chat_fn_for(client, "openai/gpt-4o-mini")
    result = await chat([Message("user", "expand: retries")], json_output=True, timeout=5.0, response_format=FORMAT)
    assert result.parsed == {"queries": ["retry policy", "backoff"]}
    assert route.calls.last.request.content.count(b'"json_schema"') == 2  # type and the schema object
    plain = await chat([Message("user", "expand: retries")], json_output=True, timeout=5.0)
    assert plain.parsed is None  # stages that parse free text are unchanged
