"""Structured output: each API's own control, validation on return, one repair, clear errors.

OpenAI-compatible APIs get ``response_format.json_schema``, Gemini
``responseMimeType`` + ``responseJsonSchema``, Anthropic and Bedrock Claude a
forced tool; every answer is then checked against the schema here.
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from providers import Keys, Message, ProviderClient
from providers.errors import InvalidToolDefinition, SchemaViolation, StructuredOutputUnsupported
from providers.types import ChatRequest, Credentials
from providers.wire.bedrock import BedrockAdapter
from tests.providers.test_wire_bedrock import AWS, RUNTIME

SCHEMA = {
    "type": "object",
    "properties": {"grade": {"type": "integer", "minimum": 0, "maximum": 3}, "reason": {"type": "string"}},
    "required": ["grade", "reason"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "json_schema": {"name": "grade", "schema": SCHEMA, "strict": True}}
ASK = [Message("user", "Grade this passage.")]
ENV = {
    "OPENAI_API_KEY": "sk-fake-openai-0000",
    "ANTHROPIC_API_KEY": "sk-ant-fake-0000",
    "GEMINI_API_KEY": "fake-gemini-key-0000",
}
OPENAI = "https://api.openai.com/v1/chat/completions"


def client() -> ProviderClient:
    return ProviderClient(Keys(None, ENV), http=httpx.AsyncClient())


def openai_text(text: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        },
    )


@pytest.mark.anyio
@respx.mock
async def test_openai_gets_json_schema_and_the_answer_is_parsed():
    route = respx.post(OPENAI).mock(return_value=openai_text('{"grade": 2, "reason": "on topic"}'))
    result = await client().chat("openai/gpt-4o-mini", ASK, response_format=FORMAT)
    assert json.loads(route.calls.last.request.content)["response_format"] == FORMAT
    assert result.parsed == {"grade": 2, "reason": "on topic"} and "schema_repair" not in result.metadata


@pytest.mark.anyio
@respx.mock
async def test_an_answer_off_the_schema_gets_one_repair_request():
    route = respx.post(OPENAI).mock(
        side_effect=[openai_text('{"grade": 7}'), openai_text('{"grade": 3, "reason": "fixed"}')]
    )
    result = await client().chat("openai/gpt-4o-mini", ASK, response_format=FORMAT)
    assert result.parsed == {"grade": 3, "reason": "fixed"}
    repair = json.loads(route.calls.last.request.content)["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"grade": 7}'}
    assert "does not match the schema" in repair[-1]["content"]
    assert "first answer was refused" in result.metadata["schema_repair"]
    assert result.usage.input_tokens == 20  # both requests counted


@pytest.mark.anyio
@respx.mock
async def test_a_model_that_ignores_the_schema_twice_is_a_schema_violation():
    route = respx.post(OPENAI).mock(side_effect=[openai_text("Grade: two"), openai_text("Still: two")])
    with pytest.raises(SchemaViolation) as info:
        await client().chat("openai/gpt-4o-mini", ASK, response_format=FORMAT)
    assert route.call_count == 2 and "not valid JSON" in info.value.message


@pytest.mark.anyio
@respx.mock
async def test_a_400_refusing_the_schema_is_structured_output_unsupported_and_the_chain_moves_on():
    respx.post(OPENAI).respond(
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
    respx.post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent").respond(
        200,
        json={
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": '{"grade": 1, "reason": "ok"}'}]},
                    "finishReason": "STOP",
                }
            ]
        },
    )
    with pytest.raises(StructuredOutputUnsupported, match="gpt-4-0613"):
        await client().chat("openai/gpt-4-0613", ASK, response_format=FORMAT)
    result = await client().chat(
        "openai/gpt-4-0613", ASK, response_format=FORMAT, fallbacks=["google/gemini-2.5-flash"]
    )
    assert result.parsed == {"grade": 1, "reason": "ok"}
    assert "StructuredOutputUnsupported" in result.metadata["fallbacks"][0]["reason"]


@pytest.mark.anyio
@respx.mock
async def test_gemini_gets_response_json_schema():
    route = respx.post(
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    ).respond(
        200,
        json={
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": '{"grade": 0, "reason": "off topic"}'}]},
                    "finishReason": "STOP",
                }
            ]
        },
    )
    result = await client().chat("google/gemini-2.5-flash", ASK, response_format=FORMAT)
    generation = json.loads(route.calls.last.request.content)["generationConfig"]
    assert generation["responseMimeType"] == "application/json" and generation["responseJsonSchema"] == SCHEMA
    assert result.parsed["grade"] == 0


@pytest.mark.anyio
@respx.mock
async def test_anthropic_gets_a_forced_tool_and_its_input_is_the_answer():
    route = respx.post("https://api.anthropic.com/v1/messages").respond(
        200,
        json={
            "id": "m",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "stop_reason": "tool_use",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "grade", "input": {"grade": 3, "reason": "exact"}}
            ],
            "usage": {"input_tokens": 40, "output_tokens": 20},
        },
    )
    result = await client().chat("anthropic/claude-sonnet-4-5", ASK, response_format=FORMAT, thinking_level="low")
    body = json.loads(route.calls.last.request.content)
    assert body["tools"][0]["name"] == "grade" and body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "grade"} and "thinking" not in body
    assert result.parsed == {"grade": 3, "reason": "exact"} and result.tool_calls == ()
    assert json.loads(result.text) == result.parsed and "forced" in result.metadata["thinking_note"]


@pytest.mark.anyio
async def test_bedrock_claude_gets_a_forced_tool_other_models_a_clear_refusal():
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "t1", "name": "grade", "input": {"grade": 1, "reason": "partly"}}}
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 5, "outputTokens": 5, "totalTokens": 10},
    }
    model = "anthropic.claude-sonnet-4-20250514-v1:0"
    creds = Credentials("bedrock", "", extra={"region": "us-east-1"})
    from providers.structured import as_response_schema

    schema = as_response_schema(FORMAT)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{RUNTIME}/model/anthropic.claude-sonnet-4-20250514-v1%3A0/converse").respond(
            200, json=answer
        )
        async with httpx.AsyncClient() as http:
            result = await BedrockAdapter(AWS).chat(
                http, creds, ChatRequest(model=model, messages=ASK, response_schema=schema)
            )
            with pytest.raises(StructuredOutputUnsupported, match="Claude"):
                await BedrockAdapter(AWS).chat(
                    http,
                    creds,
                    ChatRequest(model="meta.llama3-70b-instruct-v1:0", messages=ASK, response_schema=schema),
                )
    assert json.loads(route.calls.last.request.content)["toolConfig"]["toolChoice"] == {"tool": {"name": "grade"}}
    assert json.loads(result.text) == {"grade": 1, "reason": "partly"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fmt", "says"),
    [
        (
            {"type": "json_schema", "json_schema": {"name": "g", "schema": {"type": "nonsense"}}},
            "not a valid JSON Schema",
        ),
        ({"type": "json_schema", "json_schema": {"name": "bad name", "schema": SCHEMA}}, "name"),
        ({"type": "json_schema"}, "needs a JSON Schema"),
    ],
)
async def test_unusable_response_formats_are_refused_before_any_request(fmt, says):
    with pytest.raises(InvalidToolDefinition, match=says):
        await client().chat("openai/gpt-4o-mini", ASK, response_format=fmt)


@pytest.mark.anyio
async def test_structured_output_is_not_streamed():
    with pytest.raises(InvalidToolDefinition, match="not streamed"):
        [d async for d in client().stream_chat("openai/gpt-4o-mini", ASK, response_format=FORMAT)]
